# Two commands do all the set-up:  `make lab`  and  `make test`  (`make test-fast` while changing code).
# Each creates .venv and installs into it the first time (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The whole-suite limit keeps a hung kernel from hanging CI (a lesson cell has its own: scripts/execute_lessons.py's
# CELL_TIMEOUT). It is wide on purpose: a busy 2-core machine runs a lesson cell several times slower than a quiet one.
PYTEST := timeout 3600 $(PY) -m pytest
# The marks (pyproject.toml) of the tests that `make test-fast` leaves out.
HEAVY := -m "not lesson and not slow and not browser and not gpu"

.PHONY: lab test test-fast lint test-gpu site install install-test browser-deps clean

# As root (a container, a classroom VM) Jupyter refuses to start without --allow-root.
lab: install
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# A learner's set-up in under a minute: versions against pyproject.toml, the mode and why, the quick model's fill-mask,
# widgets in this front end, free disk and memory, and what to do about each problem (helpers/check.py).
.PHONY: check
check: install
	$(PY) -m helpers.check

# While changing code, about a minute once installed: the linter, then the unit tests that execute no lesson, start no
# browser or other process and train for a few seconds at most (tests/conftest.py fails one that takes longer).
test-fast: lint
	KIT_QUICK=1 $(PYTEST) $(HEAVY) tests

# Before a change is done: the linter and every test. Each lesson is executed once in quick mode on the CPU
# (scripts/execute_lessons.py keeps the executed copy in _build/ and reuses it while nothing it depends on changed):
# that one execution serves the lesson-runs test, TEACHING.md's numbers and the course site. Then what only another
# run can test: each lesson's core cells alone in full mode, lesson 04 on other texts, the scripts' runs and the browser
# tests. Two at a time, lessons and tests (pytest-xdist; the long tests first, an idle worker takes from the other's
# queue): a lesson's kernel keeps about 1.4 of two cores busy, and a test that installs or waits for a browser fewer.
# Two runs of one lesson, or two builds of the site, wait for each other.
test: lint browser-deps
	$(PY) scripts/execute_lessons.py --jobs 2
	KIT_QUICK=1 $(PYTEST) -n 2 --dist worksteal tests

lint: install-test
	$(VENV)/bin/ruff check .

# On a machine with a CUDA GPU: mixed precision, device placement, and every lesson on the GPU in quick and full mode
# (full mode from KIT_MODEL's folder if it names one, else a random bert-base-sized BERT). Each lesson prints its time.
test-gpu: install-test
	$(PYTEST) -m gpu tests/test_gpu.py -v -s

# The course site in _build/site: each lesson executed once in quick mode (scripts/execute_lessons.py keeps the
# executed copy and reuses it while the lesson and its inputs are unchanged), then Sphinx, any warning an error.
site: $(VENV)/.installed-site
	timeout 3600 $(PY) scripts/build_site.py

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Prefer torch 2.13.0: where a local CPU wheel is offered (as on the kit's CI) this takes seconds
	@# instead of gigabytes of CUDA packages. Elsewhere pip picks a torch from pyproject's range.
	$(PY) -m pip install --quiet "torch==2.13.0" || echo "torch 2.13.0 is not offered here; using pyproject's torch range"
	$(PY) -m pip install --quiet -e ".[lab]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,lab,site]"
	touch $@

$(VENV)/.installed-site: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[lab,site]"
	touch $@

# Debian's Chromium for tests/browser (Playwright cannot download its own browser offline).
browser-deps:
	@bash scripts/ensure_chromium.sh

clean:
	rm -rf $(VENV) .kit_cache
