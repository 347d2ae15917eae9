# universed — top-level build. Every target does its own setup (venv, engine build).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
PLUGINS := $(wildcard plugins/*/pyproject.toml)
STAMP  := $(VENV)/.installed

.PHONY: all sim venv run test test-sim test-py check lint types bench fuzz soak dist install clean

all: sim venv

sim:
	$(MAKE) -C sim

# setuptools announces each editable install with an informational "Editable installation"
# notice that pip shows even with -q; nothing is wrong, so make keeps it quiet
$(STAMP): export PYTHONWARNINGS = ignore:Editable installation
$(STAMP): pyproject.toml setup.py $(PLUGINS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	for p in $(dir $(PLUGINS)); do $(PIP) install -q -e $$p || exit 1; done
	touch $(STAMP)

venv: $(STAMP)

## run: the daemon on the embedded default universe (seed 42, 127.0.0.1:8000); its state (and
## admin token) persist in $(STATE): a second `make run` resumes the same universe
STATE ?= .state
run: sim venv
	$(VENV)/bin/universed serve --state-dir $(STATE)

## test: C unit/golden/sanitizer/corpus tests, then the Python suite
test: test-sim test-py

test-sim:
	$(MAKE) -C sim test

test-py: sim venv
	$(PY) -m pytest -q -p no:cacheprovider tests $(wildcard plugins/*/tests)

lint: venv
	$(VENV)/bin/ruff check universed devtools tests plugins examples
	$(VENV)/bin/ruff format --check universed devtools tests plugins examples

types: venv
	$(VENV)/bin/mypy

check: lint types test

bench: sim venv
	$(MAKE) -C sim bench
	$(PY) -m universed.bench
	$(PY) -m universed_policy_explorer.bench
	$(PY) -m universed.rl.bench

## fuzz-rest/ws and the stateful tests live in the test suite; fuzz runs the engine's three libFuzzer
## targets (JSON reader, protocol, actions) for FUZZ_SECONDS (needs clang)

fuzz:
	$(MAKE) -C sim fuzz

## soak: minutes of abuse (1,000 agents) against a real daemon, then 50 kills each of the sim
## and of the daemon at random ticks (resumed state hash == uninterrupted run); not in `make test`
soak: sim venv
	$(PY) -m devtools.soak
	$(PY) -m devtools.crash --crash-soak 50
	UNIVERSED_STATEFUL=long $(PY) -m pytest -q -s tests/test_stateful.py

## dist: dist/universed-VERSION.tar.gz (sources; building it compiles the engine) and the wheel
## built from it, tagged py3-none-manylinux_2_N_ARCH from the engine it carries (see setup.py)
## (with PYTHONDONTWRITEBYTECODE set, setuptools would warn that it skips byte-compiling)
dist: venv
	rm -rf dist
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m build --no-isolation --outdir dist .

## install: (as root) a venv in $(PREFIX) with universed (pip builds the engine into the package)
## and the plugins, the systemd unit, its hardening drop-in and /etc/universed/universed.toml (an
## existing one is kept)
PREFIX ?= /opt/universed
install:
	test -x $(PREFIX)/bin/python || $(PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/pip install -q --upgrade pip
	$(PREFIX)/bin/pip install -q .
	for p in $(dir $(PLUGINS)); do $(PREFIX)/bin/pip install -q ./$$p || exit 1; done
	$(PREFIX)/bin/universed install-service --root $(DESTDIR)/ --exec $(PREFIX)/bin/universed

clean:
	$(MAKE) -C sim clean
	rm -rf $(VENV) build dist *.egg-info
