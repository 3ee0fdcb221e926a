# The protocol lab. `make run` and `make test` work on a fresh clone: the first call
# builds .venv and installs the project; later calls reuse it until pyproject.toml changes.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest

.PHONY: run test test-quick bench bench-peers bench-instructions bench-parser trace grade starters clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "%-20s%s\n", $$1, $$2 }'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the lab with its test clients

run: $(STAMP)  ## start the lab on its defaults (http://127.0.0.1:8080)
	$(BIN)/python -m lab serve

# Most tests wait (on a server, a timeout, a grader run): four workers (pytest-xdist)
# cut the suite from ~30 min to ~9 on 2 cores. worksteal: a worker that runs dry takes
# tests queued on the others, so a few long grader runs no longer end the run alone.
JOBS    ?= 4
XDIST   := -n $(JOBS) $(if $(filter 0,$(JOBS)),,--dist worksteal)

test: $(STAMP)  ## the whole suite (JOBS=0: in one process, without workers)
	$(PYTEST) -q $(XDIST)

test-quick: $(STAMP)  ## the suite without the tests marked slow
	$(PYTEST) -q $(XDIST) -m "not slow"

bench: $(STAMP)  ## compare the I/O models and the peers (ARGS="--quick" for a short run)
	$(BIN)/python -m lab bench $(ARGS)

bench-peers: $(STAMP)  ## install the peers: uvicorn, httptools, aiohttp (pip); nginx, wrk (apt, as root)
	$(BIN)/python -m lab.bench.peers --install

bench-instructions: $(STAMP)  ## CPU instructions per request, counted by valgrind (ARGS="--peers")
	$(BIN)/python -m lab.bench.instructions $(ARGS)

bench-parser: $(STAMP)  ## requests parsed per second: ours, h11, httptools
	$(BIN)/python -m lab.bench_parser

trace: $(STAMP)  ## capture and annotate a scenario (ARGS="hello --io epoll"; needs root)
	$(BIN)/python -m lab trace $(ARGS)

grade: $(STAMP)  ## grade a submission (ARGS="--exercise 01 --submission DIR")
	$(BIN)/python -m lab grade $(ARGS)

starters: $(STAMP)  ## remake exercises/*/starter/ from the reference modules (ARGS="--check" to only compare)
	$(BIN)/python -m lab exercise starters $(ARGS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache build *.egg-info
