# Every target sets up what it needs by itself: a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the test suite's independent peers come from.
DEBIAN_PEERS := libcoap3-bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck pytest bench peers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Independent peers for interoperability tests. Installed, never assumed.
peers: $(VENV)/.peers
$(VENV)/.peers: $(STAMP)
	@if ! command -v coap-client-openssl >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBIAN_PEERS); \
	fi
	touch $@

run: $(STAMP)
	$(VENV)/bin/lwm2m server

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) peers
	$(PY) -m pytest -q -p no:cacheprovider

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
