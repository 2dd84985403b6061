# retrorun: the two commands a fresh machine needs are `make demo` and `make test`.
# Both create .venv when it is missing and install the project with everything it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: all install test test-quick lint check bench demo clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,sim]'
	@touch $(STAMP)

install: $(STAMP)

## lint: ruff on everything
lint: $(STAMP)
	$(PY) -m ruff check .

## check: static firmware checks (mpy-cross -march=xtensawin, pyright against ESP32 stubs)
check: $(STAMP)
	$(PY) tools/check_firmware.py

## test: lint, the static firmware checks, then the whole pytest suite
test: lint check
	$(PY) -m pytest $(PYTEST_ARGS)

## test-quick: everything but the slow end-to-end tests
test-quick: lint check
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

## bench: the measured figures quoted in docs/
bench: $(STAMP)
	$(VENV)/bin/retrorun bench logs
	$(VENV)/bin/retrorun bench obstacles

## demo: the end-to-end job on a virtual board
demo: $(STAMP)
	$(VENV)/bin/retrorun demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
