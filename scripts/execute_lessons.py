"""Execute each lesson once in quick mode and keep the executed copy, for every check that only reads outputs.

    python scripts/execute_lessons.py            # every lesson whose copy is missing or stale
    python scripts/execute_lessons.py 03 05      # only these lessons
    python scripts/execute_lessons.py --force    # execute again even when the copy is fresh
    python scripts/execute_lessons.py --jobs 2   # two lessons at a time (`make test` does, on two cores)

The copies go to _build/executed/<lesson>.ipynb with their outputs and the widgets' saved state (what the course site
renders as a snapshot). A copy is fresh while its stamp matches: a hash of the lesson, every file under helpers/, the
kit's model and the lessons' texts, and the versions of the packages that decide what a lesson prints. TEACHING.md's
numbers, the site and the lesson-output tests read these copies instead of each running the lesson again.

One execution of a lesson at a time, in any mode, across processes (`make test` runs its tests in two): a lesson
writes the same saved_models/ folders whatever its mode, so two runs of it at once would read each other's models.
Two different lessons may run at once (`--jobs 2`, or two tests). Their kernels' OpenMP threads must then wait for a
core without spinning (OMP_WAIT_POLICY=PASSIVE, which --jobs above 1 and tests/conftest.py set): on two cores,
lesson 03 beside lesson 05 took 120 s so (88 s alone) and had not finished after 450 s with the default policy.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

import nbformat
from filelock import FileLock
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO_ROOT / "notebooks"
EXECUTED = REPO_ROOT / "_build" / "executed"
LOCKS = REPO_ROOT / "_build" / "locks"
CELL_TIMEOUT = 900  # seconds per cell: wide, as a cell that takes under a minute took 300 s on a busy 2-core machine
# What a quick-mode lesson's outputs depend on besides its own cells and the scripts it names (a lesson runs
# `scripts/pretrain.py --help`, for one).
INPUTS = ["helpers", "data/kit_bert", "data/meditations.txt", "data/austen.txt", "notebooks/colab_cell.py"]
SCRIPT = re.compile(r"scripts/\w+\.py")
PACKAGES = ["torch", "transformers", "tokenizers", "numpy", "matplotlib", "ipywidgets"]


def lessons() -> list[Path]:
    """Return the lesson notebooks in reading order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def lesson(number: str) -> Path:
    """Return the notebook of lesson `number` ('03' -> notebooks/03_....ipynb); exit with a message if there is none."""
    found = [path for path in lessons() if path.name.startswith(f"{number}_")]
    if len(found) != 1:
        sys.exit(f"execute_lessons: no lesson numbered {number!r}; the lessons are "
                 f"{', '.join(path.name[:2] for path in lessons())}")
    return found[0]


def stamp(path: Path) -> str:
    """Return a hash of everything the lesson's quick-mode outputs depend on (its cells, helpers, data, versions)."""
    digest = hashlib.sha256()
    cells = nbformat.read(path, as_version=4).cells
    digest.update(json.dumps([(cell.cell_type, cell.source) for cell in cells]).encode())
    scripts = sorted({name for cell in cells for name in SCRIPT.findall(cell.source)})
    for name in INPUTS + scripts:
        root = REPO_ROOT / name
        for file in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if file.is_file() and "__pycache__" not in file.parts:  # a script the lesson names may not exist
                digest.update(str(file.relative_to(REPO_ROOT)).encode() + file.read_bytes())
    digest.update(" ".join(f"{name}={version(name)}" for name in PACKAGES).encode())
    return digest.hexdigest()


def executed_path(path: Path) -> Path:
    """Return where the executed copy of lesson `path` is kept."""
    return EXECUTED / path.name


def is_fresh(path: Path) -> bool:
    """Return True when the executed copy of `path` exists and was made from the lesson and inputs as they are now."""
    copy = executed_path(path)
    if not copy.exists():
        return False
    return nbformat.read(copy, as_version=4).metadata.get("kit_execution", {}).get("stamp") == stamp(path)


def lesson_lock(path: Path) -> FileLock:
    """Return the lock that one execution of lesson `path` holds, whatever its mode (use it as a context manager)."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    return FileLock(LOCKS / f"{path.stem}.lock")


def run_lesson(nb: nbformat.NotebookNode, path: Path, **options) -> None:
    """Execute `nb` (lesson `path`, perhaps with cells changed or left out) in a fresh kernel in the lesson's folder,
    as the only execution of that lesson; the outputs go into `nb`. `options` go to nbclient's NotebookClient.

    The kernel inherits this process's environment (KIT_QUICK, KIT_MODEL, ...). A cell that raises stops the run with
    nbclient's CellExecutionError, which names the cell and its error.
    """
    with lesson_lock(path):
        _run(nb, path, **options)


def _run(nb: nbformat.NotebookNode, path: Path, **options) -> None:
    options = {"timeout": CELL_TIMEOUT, "kernel_name": "python3", **options}
    NotebookClient(nb, resources={"metadata": {"path": str(path.parent)}}, **options).execute()


def execute(path: Path) -> Path:
    """Execute lesson `path` top to bottom in quick mode on the CPU; save it with outputs; return the copy's path.

    The caller holds lesson_lock(path). A cell that raises stops the run with nbclient's CellExecutionError (naming
    the cell), and no copy is written.
    """
    env = {"KIT_QUICK": "1", "TQDM_DISABLE": "1", "PYTHONHASHSEED": "0"}
    saved = {name: os.environ.get(name) for name in [*env, "KIT_MAX_STEPS", "KIT_MODEL", "MPLBACKEND"]}
    os.environ.update(env)
    for name in ["KIT_MAX_STEPS", "KIT_MODEL", "MPLBACKEND"]:  # the lesson as a learner runs it: no caps, inline plots
        os.environ.pop(name, None)
    try:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        _run(nb, path, record_timing=False, store_widget_state=True)
        seconds = time.perf_counter() - start
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    nb.metadata["kit_execution"] = {"stamp": stamp(path), "seconds": round(seconds, 1), "mode": "quick"}
    copy = executed_path(path)
    copy.parent.mkdir(parents=True, exist_ok=True)
    staging = copy.with_suffix(f".{os.getpid()}.tmp")  # a reader may be reading the copy: rename is atomic
    nbformat.write(nb, staging)
    staging.replace(copy)
    return copy


def refresh(path: Path, force: bool = False) -> bool:
    """Execute lesson `path` if its copy is missing or stale (or `force`); return True if it was executed."""
    if not force and is_fresh(path):
        return False
    with lesson_lock(path):  # another process may be executing it: wait, then look again
        if force or not is_fresh(path):
            execute(path)
            return True
    return False


def executed(path: Path, force: bool = False) -> nbformat.NotebookNode:
    """Return the executed copy of lesson `path`, executing the lesson first if the copy is missing or stale."""
    refresh(path, force)
    return nbformat.read(executed_path(path), as_version=4)


def last_seconds(path: Path) -> float:
    """Return how long the lesson's last quick-mode execution took (0 if it has none)."""
    copy = executed_path(path)
    if not copy.exists():
        return 0.0
    return nbformat.read(copy, as_version=4).metadata.get("kit_execution", {}).get("seconds", 0.0)


def report(path: Path, force: bool) -> str:
    """Refresh lesson `path` (see refresh); return a line saying whether it was executed, how long it took, where."""
    start = time.perf_counter()
    copy = executed_path(path).relative_to(REPO_ROOT)
    if refresh(path, force):
        return f"{path.name}: executed in {time.perf_counter() - start:.0f} s -> {copy}"
    return f"{path.name}: fresh copy in {copy}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", help="lesson numbers such as 01 05 (default: every lesson)")
    parser.add_argument("--force", action="store_true", help="execute even when the executed copy is fresh")
    parser.add_argument("--jobs", type=int, default=1, help="lessons executed at once, each in its own process "
                        "(default 1)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1; got {args.jobs}")
    if args.jobs > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # the kernels inherit it (the docstring says why)
    # The longest lesson first, so that the others run beside it instead of after it: by the last execution's time,
    # and without one the later lessons first (they train more).
    paths = sorted([lesson(number) for number in args.numbers] or lessons(),
                   key=lambda path: (last_seconds(path), path.name), reverse=True)
    with ProcessPoolExecutor(args.jobs) as pool:  # a process each: execute() sets this process's environment
        for line in pool.map(report, paths, [args.force] * len(paths)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
