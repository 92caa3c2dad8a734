"""README's set-up without make: the Windows and the macOS/Linux commands say the same, and they work.

The slow test runs README's macOS/Linux commands exactly, in a fresh virtual environment in a temporary folder (the
last one, which opens JupyterLab, as `jupyter lab --version`, which does not wait for a browser). The Windows block
is the same commands with Windows paths, which the fast test checks line by line.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest

from helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def commands(name: str) -> list[str]:
    """Return the lines of README's code block between the markers `without-make-{name}:start` and `:end`."""
    match = re.search(rf"<!-- without-make-{name}:start -->\n```\w+\n(.*?)```\n<!-- without-make-{name}:end -->",
                      README, re.S)
    assert match, f"README.md has no block marked without-make-{name}"
    return match.group(1).strip().splitlines()


def as_posix(line: str) -> str:
    """Return a Windows command line written as on macOS or Linux."""
    return line.replace("py -m venv", "python3 -m venv").replace(".venv\\Scripts\\", ".venv/bin/")


def test_windows_and_posix_commands_are_the_same():
    assert [as_posix(line) for line in commands("windows")] == commands("posix")
    assert commands("posix")[-1].endswith("jupyter lab notebooks"), "the last command opens the lessons"


@pytest.mark.slow  # installs every package into a fresh environment (minutes; pip's cache and a network help)
def test_posix_commands_set_the_kit_up(tmp_path):
    venv = tmp_path / ".venv"
    env = {**os.environ, "KIT_QUICK": "1", "TQDM_DISABLE": "1"}
    env.pop("VIRTUAL_ENV", None)
    for line in commands("posix"):
        argv = shlex.split(line.replace(" notebooks", " --version") if "jupyter lab" in line else line)
        argv = [sys.executable if arg == "python3" else str(venv) + arg[len(".venv"):] if arg.startswith(".venv")
                else arg for arg in argv]
        done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
        # helpers.check's exit status is its number of problems: 0 means the set-up is ready.
        assert done.returncode == 0, f"{line!r} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
