# Two commands do all the set-up:  `make lab`  and  `make test`.
# Each creates .venv and installs into it the first time (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Per-cell and whole-suite limits keep a hung kernel from hanging CI. They are wide on purpose: a lesson cell that
# takes under a minute took over 300 s on a busy 2-core machine, so a cell gets 900 s. The suite runs about ten
# lessons (nbval, the browser's Run All, the lesson tests) besides the unit tests: it gets two hours.
CELL_TIMEOUT := 900
PYTEST := timeout 7200 $(PY) -m pytest

.PHONY: lab test test-gpu site install install-test browser-deps clean

# As root (a container, a classroom VM) Jupyter refuses to start without --allow-root.
lab: install
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# A learner's set-up in under a minute: versions against pyproject.toml, the mode and why, the quick model's fill-mask,
# widgets in this front end, free disk and memory, and what to do about each problem (helpers/check.py).
.PHONY: check
check: install
	$(PY) -m helpers.check

# Unit tests, every notebook under nbval (quick mode, CPU), and the browser tests of the widgets.
test: install-test browser-deps
	KIT_QUICK=1 $(PYTEST) tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT)

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
