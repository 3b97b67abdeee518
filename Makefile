# Two entry points, each sets itself up in a project-local .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install bench clean

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

clean:
	rm -rf $(VENV) .pytest_cache
