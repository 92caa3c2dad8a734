# Two commands do all the set-up:  `make lab`  and  `make test`.
# Each creates .venv and installs into it the first time (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Per-cell and whole-suite limits keep a hung kernel from hanging CI.
PYTEST := timeout 1500 $(PY) -m pytest

.PHONY: lab test install install-test browser-deps clean

# As root (a container, a classroom VM) Jupyter refuses to start without --allow-root.
lab: install
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# Unit tests, every notebook under nbval (quick mode, CPU), and the browser tests of the widgets.
test: install-test browser-deps
	KIT_QUICK=1 $(PYTEST) tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=300

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Prefer torch 2.13.0: where a local CPU wheel is offered (as on the kit's CI) this takes seconds
	@# instead of gigabytes of CUDA packages. Elsewhere pip picks a torch from pyproject's range.
	$(PY) -m pip install --quiet "torch==2.13.0" || echo "torch 2.13.0 is not offered here; using pyproject's torch range"
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# Debian's Chromium for tests/browser (Playwright cannot download its own browser offline).
browser-deps:
	@bash scripts/ensure_chromium.sh

clean:
	rm -rf $(VENV) .kit_cache
