"""Check a learner's set-up in under a minute: `python -m helpers.check` (or `make check`).

Each check prints one line, `ok` or `PROBLEM`, and after a problem what to do about it. The exit status is the
number of problems (0: ready for the class).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass
from typing import Callable

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from . import REPO_ROOT

GIB = 2**30
# Disk: the lessons save a few small models (quick mode) or bert-base-sized ones (full mode: 440 MB each, lesson
# 05's six runs 2.6 GB, plus the 440 MB download). Memory: every lesson peaks under 6 GiB in full mode on a CPU
# (benchmarks/full_mode_memory.py) and under 1.5 GiB in quick mode.
NEEDED_DISK_GIB = {"quick": 0.5, "full": 4.5}
NEEDED_MEMORY_GIB = {"quick": 1.5, "full": 6.0}
INSTALL = "reinstall: make install (or the commands under 'Without make' in README.md)"


@dataclass(frozen=True)
class Result:
    """One check: what was found, and what to do when it is a problem (empty when it is fine)."""

    found: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return not self.fix


def declared_requirements() -> tuple[str, list[Requirement]]:
    """Return pyproject.toml's requires-python and the packages the lessons need (with the lab extra's where the
    lessons open in JupyterLab: Colab draws its own ipywidgets 7)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lab = widget_frontend() == "JupyterLab"
    lines = project["dependencies"] + (project["optional-dependencies"]["lab"] if lab else [])
    return project["requires-python"], [Requirement(line) for line in lines]


def check_python() -> Result:
    """Python's version against pyproject.toml's requires-python."""
    wanted, _ = declared_requirements()
    version = ".".join(map(str, sys.version_info[:3]))
    if SpecifierSet(wanted).contains(version):
        return Result(f"Python {version} ({wanted})")
    return Result(f"Python {version}, the kit needs {wanted}", f"install Python {wanted.lstrip('>=')} or newer, "
                  "then create the environment again with it")


def check_packages() -> Result:
    """Every declared package installed, at a version pyproject.toml allows."""
    _, requirements = declared_requirements()
    found, wrong = [], []
    for requirement in requirements:
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{requirement.name} missing")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement.name} {version} (needs {requirement.specifier})")
        elif f"{requirement.name} {version}" not in found:  # ipywidgets is in both lists
            found.append(f"{requirement.name} {version}")
    if wrong:
        return Result("; ".join(wrong), INSTALL)
    return Result(", ".join(found))


def check_mode() -> Result:
    """The mode the lessons will run in, and why."""
    from .models import run_mode

    try:
        return Result(run_mode().banner())
    except ValueError as error:  # a KIT_QUICK that is neither 1 nor 0
        return Result(str(error), "set KIT_QUICK to 1 (quick mode) or 0 (full mode), or remove it")


def check_quick_model() -> Result:
    """The kit's small BERT loads and fills in one [MASK]."""
    from .evaluation import top_predictions
    from .models import KIT_BERT, load_model

    try:
        tokenizer, model = load_model("mlm", str(KIT_BERT), verbose=False)
        guesses = top_predictions(model.eval(), tokenizer, "The sun rose over the [MASK].", k=3)[0]
    except Exception as error:  # any failure here is the learner's problem to report, with its message
        return Result(f"the quick model failed: {type(error).__name__}: {error}",
                      f"check that data/kit_bert is complete (git status), then {INSTALL}")
    return Result(f"the quick model fills 'The sun rose over the [MASK].' with {guesses}")


# Each front end: its module, the package that draws ipywidgets in it, and that package's major version for
# ipywidgets 8 and 7 (JupyterLab 4 draws only ipywidgets 8).
WIDGET_PARTNERS = {"JupyterLab": ("jupyterlab", "jupyterlab_widgets", {8: 3, 7: 1}),
                   "Jupyter Notebook": ("notebook", "widgetsnbextension", {8: 4, 7: 3})}


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (google of google.colab) is missing
        return False


def widget_frontend() -> str:
    """Return the front end the lessons will open in here: Colab, JupyterLab, Jupyter Notebook, or none found."""
    if _has("google.colab"):
        return "Colab"
    return next((name for name, (module, _, _) in WIDGET_PARTNERS.items() if _has(module)), "none found")


def check_widgets() -> Result:
    """ipywidgets installed, with the package that draws them in this front end, at the matching major version."""
    try:
        version = importlib.metadata.version("ipywidgets")
    except importlib.metadata.PackageNotFoundError:
        return Result("ipywidgets missing", INSTALL)
    frontend = widget_frontend()
    if frontend not in WIDGET_PARTNERS:  # Colab draws ipywidgets 7 itself; VS Code brings its own renderer
        return Result(f"ipywidgets {version}; front end: {frontend}"
                      + (" (VS Code and other editors bring their own)" if frontend == "none found" else ""))
    _, package, wanted = WIDGET_PARTNERS[frontend]
    major = int(version.split(".")[0])
    try:
        partner = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return Result(f"ipywidgets {version} in {frontend}, but {package} is missing: widgets would show as text",
                      f"pip install {package}, then restart {frontend}")
    if wanted.get(major) != int(partner.split(".")[0]):
        return Result(f"ipywidgets {version} with {package} {partner}: they do not match, widgets would show as text",
                      f"pip install -U 'ipywidgets>=8.1' {package}, then restart {frontend}")
    return Result(f"ipywidgets {version} with {package} {partner} ({frontend})")


def available_memory() -> int | None:
    """Return the memory available to a new process, in bytes (None if this system does not say)."""
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None


def check_room(mode: str) -> Result:
    """Free disk under the kit's folder and free memory, against what `mode` ('quick' or 'full') needs."""
    disk = shutil.disk_usage(REPO_ROOT).free / GIB
    memory = available_memory()
    found = f"{disk:.1f} GiB free disk, " + (f"{memory / GIB:.1f} GiB free memory" if memory else "free memory unknown")
    fixes = []
    if disk < NEEDED_DISK_GIB[mode]:
        fixes.append(f"free {NEEDED_DISK_GIB[mode] - disk:.1f} GiB of disk (delete saved_models/ from past runs)")
    if memory is not None and memory / GIB < NEEDED_MEMORY_GIB[mode]:
        fixes.append(f"{mode} mode needs about {NEEDED_MEMORY_GIB[mode]:.1f} GiB: close other programs"
                     + (", or run quick mode (KIT_QUICK=1)" if mode == "full" else ""))
    return Result(found, "; ".join(fixes))


def run_checks(checks: dict[str, Callable[[], Result]]) -> int:
    """Run `checks` in order, print one line each (and what to do after a problem); return how many failed."""
    problems = 0
    for name, check in checks.items():
        result = check()
        print(f"{'ok     ' if result.ok else 'PROBLEM'}  {name}: {result.found}")
        if not result.ok:
            print(f"         what to do: {result.fix}")
            problems += 1
    return problems


def main() -> int:
    start = time.perf_counter()
    os.environ.setdefault("TQDM_DISABLE", "1")
    mode: list[str] = []

    def record_mode() -> Result:
        result = check_mode()
        mode.append("quick" if result.found.startswith("QUICK") or not result.ok else "full")
        return result

    problems = run_checks({"python": check_python, "packages": check_packages, "mode": record_mode,
                           "quick model": check_quick_model, "widgets": check_widgets,
                           "room": lambda: check_room(mode[0])})
    print(f"{problems} problem(s) found in {time.perf_counter() - start:.0f} s."
          + (" Ready for the lessons." if not problems else " Fix them, then run this check again."))
    return problems


if __name__ == "__main__":
    sys.exit(main())
