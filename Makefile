# The protocol lab. `make run` and `make test` work on a fresh clone: the first call
# builds .venv and installs the project; later calls reuse it until pyproject.toml changes.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest

.PHONY: run test test-quick bench bench-parser clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the lab with its test clients

run: $(STAMP)  ## start the lab on its defaults (http://127.0.0.1:8080)
	$(BIN)/python -m lab serve

test: $(STAMP)  ## the whole suite
	$(PYTEST) -q

test-quick: $(STAMP)  ## the suite without the tests marked slow
	$(PYTEST) -q -m "not slow"

bench-parser: $(STAMP)  ## requests parsed per second: ours, h11, httptools
	$(BIN)/python -m lab.bench_parser

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info
