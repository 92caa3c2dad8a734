"""Get the kit ready in a running Google Colab kernel: install only what Colab lacks, then make `helpers` importable.

Run by the first cell of each lesson (notebooks/colab_cell.py) with runpy, inside the kernel, so that no restart
is needed: nothing the kernel already imported is upgraded, and the repository goes on sys.path instead of a
`pip install -e .` (which upgrades ipykernel, tornado, jupyter_server and ipywidgets in Colab).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[1]

# The live kernel and its front end run on these: pip may not change them (a changed ipykernel or tornado under
# a running kernel breaks it until a restart), and an unpinned torch would pull gigabytes of CUDA packages.
KEEP = ("ipykernel", "ipywidgets", "ipython", "tornado", "jupyter_server", "jupyter_client", "torch")


def requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[Requirement]:
    """Return the kit's runtime requirements, read from pyproject.toml."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def installed_version(name: str) -> str | None:
    """Return the installed version of distribution `name`, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def missing(reqs: Iterable[Requirement], installed: Callable[[str], str | None]) -> list[Requirement]:
    """Return the requirements that no installed version satisfies (absent, or outside the declared range)."""
    return [r for r in reqs
            if (version := installed(r.name)) is None or not r.specifier.contains(version, prereleases=True)]


def keep_pins(installed: Callable[[str], str | None]) -> list[str]:
    """Return pip constraints ('name==version') holding each installed package of KEEP at its version."""
    return [f"{name}=={version}" for name in KEEP if (version := installed(name)) is not None]


def install(reqs: list[Requirement], pins: list[str]) -> None:
    """pip-install `reqs` into this Python, never moving the pinned packages; stop with a clear error if pip fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\n".join(pins) + "\n")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--constraint", constraints.name,
               *map(str, reqs)]
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"pip could not install {', '.join(map(str, reqs))} without changing {', '.join(pins)}: "
                         "see pip's message above, and report it with the output of `pip list`.")


def main() -> None:
    """Install what is missing, then put the repository on sys.path so that `import helpers` works now."""
    todo = missing(requirements(), installed_version)
    if todo:
        install(todo, keep_pins(installed_version))
        importlib.invalidate_caches()  # let this kernel find the packages that pip just added
        print("Installed for the kit:", ", ".join(str(r) for r in todo))
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


if __name__ == "__main__":
    main()
