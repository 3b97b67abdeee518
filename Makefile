# Two entry points, each sets itself up in a project-local .venv. `make test` also installs the
# Debian packages the suite needs (apt-get: needs root) and starts its own PostgreSQL and MQTT
# broker (tests/services.py); nothing needs to run beside it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# Debian packages the suite needs: the MQTT broker the suite starts, Debian's chromium for the
# browser tests, CJK fonts so that screenshots show Chinese text.
SYSTEM_PACKAGES := mosquitto chromium fonts-noto-cjk

.PHONY: demo test install system check bench audit clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/warning run --demo

# Installs only what is missing; apt-get needs root (say `sudo make system` once otherwise).
system:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make system: missing Debian packages:$$missing; run 'sudo make system' (apt-get needs root)" >&2; exit 1; fi; \
	  echo "apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: install system
	$(BIN)/python -m pytest -q

# Lint, format and types (tool settings in pyproject.toml; the tools are pinned in the test extra).
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

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
