# Two commands set everything up from scratch: `make demo` and `make test`.
PYTHON ?= python3
# ?=: the tour test (tests/system/test_tour.py) points a fresh clone at an existing venv
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# firebase-tools 13 runs the Firebase Auth emulator on Java 17 (14+ needs Java 21)
TOOLS  := .tools/.installed
CHROMIUM ?= /usr/bin/chromium
# the real coding-agent CLIs the system tests drive offline against fake provider APIs
# (tests/real_clis.py); pinned, in their own prefix so .tools stays firebase-tools only
CLIS   := .clis/.installed
CLI_PKGS := @anthropic-ai/claude-code@2.1.332 @openai/codex@0.171.0 @google/gemini-cli@0.61.0

# instants at which date-dependent tests break (TZ@time): a year's first minutes, the night
# clocks go forward in Europe (01:30 does not exist there: faketime makes it 02:30 BST), and
# a leap day's last minutes. FAKETIME_DONT_RESET: subprocesses go on from the parent's clock.
TIME_BOMBS := 'UTC@2027-01-01 00:20:00' 'Europe/London@2027-03-28 01:30:00' 'UTC@2028-02-29 23:50:00'
HARSHEST   := 'UTC@2028-02-29 23:50:00'
UNIT_AT     = TZ="$${at%@*}" FAKETIME_DONT_RESET=1 faketime -f "@$${at\#*@}" \
              $(PY) -m pytest -q -p no:cacheprovider tests/unit

# the FinOps Foundation's focus-validator (tests/focus_support.py runs it) needs Python 3.12,
# a pyenv version here (the bare python3.12 shim runs only when PYENV_VERSION selects it);
# it pins numpy<2, which a current pyarrow does not support: pyarrow<18
FOCUS_PYTHON ?= $(shell PYENV_VERSION=3.12.1 command -v python3.12 >/dev/null 2>&1 && echo python3.12 || echo /root/.pyenv/versions/3.12.1/bin/python)
FOCUS_VENV   := .focus-validator
FOCUS        := $(FOCUS_VENV)/.installed
PROMETHEUS   ?= /usr/bin/prometheus

.PHONY: demo test test-unit test-system test-time lint bench install tools clis browser faketime prometheus focus-validator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# compat: the checkout on sys.path by a plain .pth line; the default editable finder
	# imports pathlib and more in every process's site (about 10 ms of each command,
	# the status line's whole budget)
	$(PY) -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

$(TOOLS):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error firebase-tools@13.35.1
	touch $(TOOLS)

$(CLIS): Makefile
	npm install --prefix .clis --no-audit --no-fund --loglevel=error $(CLI_PKGS)
	touch $(CLIS)

install: $(STAMP)

# the browser tests drive Debian's Chromium (Playwright cannot download one here)
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	else \
		echo "browser tests need Chromium: sudo apt-get install chromium (they skip without it; under CI they fail)"; \
	fi

# libfaketime fakes the clock of the unit suite and its subprocesses (make test, test-time)
faketime:
	@if command -v faketime >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get install -y faketime || { apt-get update && apt-get install -y faketime; }; \
	else \
		echo "the unit suite runs under faketime: sudo apt-get install faketime (without it, on today's clock; under CI it fails)"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
	fi

tools: $(TOOLS)

clis: $(CLIS)

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
test-system: $(STAMP) $(TOOLS) $(CLIS) browser prometheus $(FOCUS)
	$(PY) -m pytest -q tests/system

# the unit suite at each of TIME_BOMBS: a test that reads the date or a file's age and
# was only ever run on an ordinary day fails here
test-time: $(STAMP) faketime
	@for at in $(TIME_BOMBS); do echo "== tests/unit at $$at"; $(UNIT_AT) || exit 1; done

# the unit suite runs once, at the harshest instant (no time added); the system suite on
# today's clock (Java under faketime is unreliable)
test: lint $(STAMP) $(TOOLS) $(CLIS) browser faketime prometheus $(FOCUS)
	@at=$(HARSHEST); if command -v faketime >/dev/null 2>&1; then \
		echo "== tests/unit at $$at"; $(UNIT_AT); else $(PY) -m pytest -q tests/unit; fi
	$(PY) -m pytest -q tests/system

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .tools .clis $(FOCUS_VENV)
