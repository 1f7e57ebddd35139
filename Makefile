# Two commands set everything up from scratch: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# firebase-tools 13 runs the Firebase Auth emulator on Java 17 (14+ needs Java 21)
TOOLS  := .tools/.installed
CHROMIUM ?= /usr/bin/chromium
# the FinOps Foundation's focus-validator (tests/focus_support.py runs it) needs Python 3.12,
# a pyenv version here (the bare python3.12 shim runs only when PYENV_VERSION selects it);
# it pins numpy<2, which a current pyarrow does not support: pyarrow<18
FOCUS_PYTHON ?= $(shell PYENV_VERSION=3.12.1 command -v python3.12 >/dev/null 2>&1 && echo python3.12 || echo /root/.pyenv/versions/3.12.1/bin/python)
FOCUS_VENV   := .focus-validator
FOCUS        := $(FOCUS_VENV)/.installed
PROMETHEUS   ?= /usr/bin/prometheus

.PHONY: demo test test-unit test-system lint bench install tools browser prometheus focus-validator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(TOOLS):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error firebase-tools@13.35.1
	touch $(TOOLS)

install: $(STAMP)

# the browser tests drive Debian's Chromium (Playwright cannot download one here)
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else \
		echo "browser tests need Chromium: sudo apt-get install chromium (they skip without it; under CI they fail)"; \
	fi

tools: $(TOOLS)

$(FOCUS):
	PYENV_VERSION=3.12.1 $(FOCUS_PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/python -m pip install --quiet 'focus-validator==2.2.1' 'pyarrow<18'
	touch $(FOCUS)

focus-validator: $(FOCUS)

# the metrics system test scrapes teamcost with Debian's Prometheus server
prometheus:
	@if [ -x $(PROMETHEUS) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y prometheus || { apt-get update && apt-get install -y prometheus; }; \
	else \
		echo "the metrics test needs Prometheus: sudo apt-get install prometheus (it skips without it; under CI it fails)"; \
	fi

demo: $(STAMP)
	$(VENV)/bin/teamcost demo

# ruff (lint + import order) and mypy on the package; findings fail the build
lint: $(STAMP)
	$(PY) -m ruff check teamcost
	$(PY) -m mypy

# pure logic, SQLite files and subprocesses: no Java, no npm, no network, under a minute
test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

# the Firestore and Auth emulators, real SDKs against local servers, a real browser
test-system: $(STAMP) $(TOOLS) browser prometheus $(FOCUS)
	$(PY) -m pytest -q tests/system

test: lint $(STAMP) $(TOOLS) browser prometheus $(FOCUS)
	$(PY) -m pytest -q

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .tools $(FOCUS_VENV)
