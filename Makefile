# Every target sets up what it needs by itself: a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: `make run` installs the runtime only, the test targets add the test extras.
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed
# Debian packages the test suite's independent peers come from (mosquitto, nats-server: the
# northbound tests start private brokers of their own, tests/northbound/conftest.py).
DEBIAN_PEERS := libcoap3-bin mosquitto nats-server
# npm packages of the test suite's independent peers (package.json and lockfile there).
NODE_PEERS := tests/peers/node
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck pytest bench fuzz peers browser redis clean

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP): $(RUNTIME_STAMP)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Independent peers for interoperability tests. Installed, never assumed.
peers: $(VENV)/.peers $(NODE_PEERS)/node_modules/.installed
$(VENV)/.peers: $(STAMP)
	@if ! command -v coap-client-openssl >/dev/null 2>&1 || [ ! -x /usr/sbin/mosquitto ] || \
		[ ! -x /usr/sbin/nats-server ]; then \
		$(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBIAN_PEERS); \
	fi
	touch $@

# lwm2m-node-lib (npm, AGPL-3.0) and smpp (npm, MIT: the SMSC of tests/sms), test peers only,
# never shipped, pinned by the committed lockfile; the stamp lives in node_modules so that
# deleting node_modules reinstalls it.
# npm comes from Debian when missing; still no npm is an error, never a skip.
$(NODE_PEERS)/node_modules/.installed: $(NODE_PEERS)/package.json $(NODE_PEERS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: the lwm2m-node-lib test peer needs it" >&2; exit 1; }
	cd $(NODE_PEERS) && npm ci --no-audit --no-fund
	touch $@

# Debian's redis-server and redis-cli for tests/redis: a private server when 127.0.0.1:6379 does
# not answer, one killed and restarted for the outage tests, and a three-node cluster.
redis: $(VENV)/.redis
$(VENV)/.redis: $(STAMP)
	@if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then \
		$(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-tools; \
	fi
	touch $@

# Debian's headless Chromium for the console's browser tests; Playwright drives it and never
# downloads a browser of its own.
browser: $(VENV)/.browser
$(VENV)/.browser: $(STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
		$(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi
	touch $@

# CoAP 5683, CoAPs 5684, HTTP 8080 (console at /), state in var/lwm2m.db.
# More options through ARGS, e.g. make run ARGS="--demo 5".
run: $(RUNTIME_STAMP)
	$(VENV)/bin/lwm2m server $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) peers browser redis
	$(PY) -m pytest -q -p no:cacheprovider

test: lint typecheck pytest

bench: $(STAMP)
	$(PY) -m bench

# Coverage-guided fuzzing (atheris) of every target in tests/fuzz/targets.py for FUZZ_SECONDS
# each, FUZZ_JOBS at a time; what it finds (corpus, crash inputs, logs) goes to var/fuzz/.
# make test runs the same targets briefly (tests/fuzz/test_fuzz_corpora.py).
FUZZ_SECONDS ?= 300
FUZZ_JOBS ?= 2
FUZZ_TARGETS ?= all
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.atheris_main --work var/fuzz --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS) -- \
		-max_total_time=$(FUZZ_SECONDS) -timeout=10

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
