"""Time each lesson run top to bottom in quick mode, kernel start included (goal on 2 cores: 90 s; lesson 05, which
runs a whole experiment, 150 s).

Run: KIT_QUICK=1 python benchmarks/notebook_time.py [NOTEBOOK ...]. The last line printed is JSON.
"""

import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers import REPO_ROOT

GOAL_SECONDS = 90
GOALS = {"05_did_it_pay_off": 150}  # lessons with a goal of their own


def run_seconds(path: Path) -> float:
    """Return the wall time of executing the notebook at `path` in a fresh kernel."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    os.environ["KIT_QUICK"] = "1"
    os.environ.pop("MPLBACKEND", None)
    paths = [Path(p) for p in sys.argv[1:]] or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    seconds = {p.stem: round(run_seconds(p), 1) for p in paths}
    goals = {name: GOALS.get(name, GOAL_SECONDS) for name in seconds}
    print(json.dumps({"seconds": seconds, "goal_s": goals,
                      "all_under_goal": all(seconds[name] < goals[name] for name in seconds)}))


if __name__ == "__main__":
    main()
