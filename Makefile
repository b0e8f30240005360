# Tape: `make demo` runs the demo day, `make test` the tests, `make lint` ruff and mypy.
# Each target creates .venv with Python 3.12 when it is missing and installs the
# project with its dev extras. The first install compiles QuickFIX (about 7
# minutes); pip caches the built wheel, so later installs reuse it. The blotter's page
# takes AG Grid Community from the npm registry (npm ci in blotter/web, pinned by its
# package-lock.json); Tape serves it itself, so the page needs no internet.

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed-stamp
WEB_STAMP := blotter/web/node_modules/.installed-stamp
# python3.12 on PATH, or pyenv's 3.12 when the shim on PATH is not set to it.
PYTHON312 ?= $(shell for p in python3.12 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null) /usr/local/bin/python3.12 /usr/bin/python3.12; do \
                 if $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then echo $$p; break; fi; done)

.PHONY: demo test lint bench venv web clean

venv: $(STAMP) $(WEB_STAMP)

web: $(WEB_STAMP)

$(WEB_STAMP): blotter/web/package.json blotter/web/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (the blotter's page needs it: apt-get install npm)"; exit 1; }
	cd blotter/web && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	    if [ -z "$(PYTHON312)" ]; then echo "error: Python 3.12 not found (tried python3.12 and pyenv)"; exit 1; fi; \
	    echo "creating $(VENV) with $(PYTHON312)"; \
	    $(PYTHON312) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	@echo "installing Tape and its dependencies (the first time, QuickFIX compiles for about 7 minutes)"
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) $(WEB_STAMP)
	$(VENV)/bin/tape demo

test: $(STAMP) $(WEB_STAMP)
	@.ci/ensure-tools
	$(VENV)/bin/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/tape bench sequencer
	$(VENV)/bin/tape bench runtime
	$(VENV)/bin/tape bench marketdata
	$(VENV)/bin/tape bench oms
	$(VENV)/bin/tape bench fix
	$(VENV)/bin/tape bench backtest
	$(VENV)/bin/tape bench blotter

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache blotter/web/node_modules
