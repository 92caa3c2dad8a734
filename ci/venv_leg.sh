#!/usr/bin/env bash
# One leg of CI's version matrix: ci/venv_leg.sh VENV CONSTRAINTS_FILE
# A fresh venv with torch 2.13.0 (ci/torch.txt) installed first, then the kit and its test extra with the given
# constraints, then `make test-fast`'s tests and every lesson under nbval in quick mode. The tests marked lesson, slow
# or browser (TEACHING.md's numbers, full-mode lessons, the scripts' runs, the widgets in Chromium) run once, in the
# "newest" leg: they test the kit's logic, not the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1 constraints=$2
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --constraint ci/torch.txt)
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" --constraint "$constraints" -e ".[test]"
"$venv/bin/python" - <<'PY'
import tomllib
from importlib.metadata import version
from packaging.requirements import Requirement
names = [Requirement(d).name for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]]
print("installed:", ", ".join(f"{name} {version(name)}" for name in names))
PY
export KIT_QUICK=1
# The course site is built and tested in the newest leg only, with its own packages (the site extra).
"$venv/bin/python" -m pytest tests -m "not lesson and not slow and not browser and not gpu" --ignore=tests/browser \
  --ignore=tests/test_site.py
"$venv/bin/python" -m pytest notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=900
