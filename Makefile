# Two commands set everything up from scratch: `make demo` and `make test`.
PYTHON ?= python3
# ?=: the tour test (tests/system/test_tour.py) points a fresh clone at an existing venv
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# firebase-tools 13 runs the Firebase Auth emulator on Java 17 (14+ needs Java 21)
TOOLS  := .tools/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test test-unit test-system lint bench install tools browser clean

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

demo: $(STAMP)
	$(VENV)/bin/teamcost demo

# ruff (lint + import order) and mypy on the package, and the docs site (mkdocs.yml) built
# with --strict into site/ (git-ignored): a broken link or nav entry fails the build
lint: $(STAMP)
	$(PY) -m ruff check teamcost
	$(PY) -m mypy
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

# pure logic, SQLite files and subprocesses: no Java, no npm, no network, under a minute
test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

# the Firestore and Auth emulators, real SDKs against local servers, a real browser
test-system: $(STAMP) $(TOOLS) browser
	$(PY) -m pytest -q tests/system

test: lint $(STAMP) $(TOOLS) browser
	$(PY) -m pytest -q

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .tools
