# Two entry points, each sets itself up in a project-local .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install bench audit clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/warning run --demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest_bench.py

# Known-vulnerability audit of the pinned dependencies (pip-audit, in a venv of its own so it
# does not pin anything of ours). It fails on a known vulnerability; packages the index cannot
# answer for are listed as skipped.
audit: install
	test -x .venv-audit/bin/pip-audit || ($(PY) -m venv .venv-audit && .venv-audit/bin/pip install -q pip-audit==2.10.1)
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > .venv/requirements.lock
	.venv-audit/bin/pip-audit -r .venv/requirements.lock --progress-spinner off

clean:
	rm -rf $(VENV) .pytest_cache
