#!/usr/bin/env bash
# One leg of CI's version matrix: ci/venv_leg.sh VENV CONSTRAINTS_FILE [--notebook6]
# A fresh venv with torch 2.13.0 (ci/torch.txt) installed first, then the kit and its test extra with the given
# constraints, then `make test-fast`'s tests and every lesson under nbval in quick mode (two at a time). The tests
# marked lesson, slow or browser (TEACHING.md's numbers, full-mode lessons, the scripts' runs, the widgets in
# JupyterLab) run once, in the "newest" leg: they test the kit's logic, not the versions.
# --notebook6 (the colab leg) then adds classic Notebook 6.5 at the constraints' version and runs one browser test,
# tests/browser/test_widgets_in_notebook6.py: the two explorers in Colab's front-end versions (ipywidgets 7, which
# JupyterLab 4 cannot show), Run All sent once the kernel is idle. One server start; a skip fails (KIT_REQUIRE_*).
# It comes last, so that notebook 6.5's jupyter_client < 8 does not change what the steps before it test.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1 constraints=$2 notebook6=${3:-}
case "$notebook6" in "" | --notebook6) ;; *) echo "usage: $0 VENV CONSTRAINTS_FILE [--notebook6]" >&2; exit 2 ;; esac
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
# Two lessons at a time, each lesson's cells in order on one worker (nbval's advice for pytest-xdist: loadscope);
# OMP_WAIT_POLICY: two kernels share two cores (scripts/execute_lessons.py says why).
OMP_WAIT_POLICY=PASSIVE "$venv/bin/python" -m pytest notebooks --nbval-lax --nbval-current-env \
  --nbval-cell-timeout=900 -n 2 --dist loadscope
if [ "$notebook6" = --notebook6 ]; then
  "${pip[@]}" --constraint "$constraints" notebook
  "$venv/bin/python" -c 'from importlib.metadata import version as v
print("front end:", ", ".join(f"{n} {v(n)}" for n in ("notebook", "ipywidgets", "ipykernel", "jupyter_client")))'
  KIT_REQUIRE_BROWSER=1 KIT_REQUIRE_NOTEBOOK6=1 "$venv/bin/python" -m pytest tests/browser/test_widgets_in_notebook6.py
fi
