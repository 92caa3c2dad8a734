"""Time each lesson run top to bottom in quick mode, kernel start included (goal: under 90 s each on 2 cores).

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
    print(json.dumps({"seconds": seconds, "goal_s": GOAL_SECONDS, "all_under_goal": max(seconds.values()) < GOAL_SECONDS}))


if __name__ == "__main__":
    main()
