# Two commands on a fresh machine (Python 3.11, pip, make):
#   make demo   — install into .venv, run the pipeline on the bundled sample news on local Ray,
#                 and serve the web page and API on http://127.0.0.1:8000 (Ctrl-C stops)
#   make test   — install into .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
export RAY_USAGE_STATS_ENABLED ?= 0
export RAY_AUTH_MODE ?= disabled
DEMO_ARGS ?=

.PHONY: install demo test lint bench clean

$(BIN)/stockteacher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $@

install: $(BIN)/stockteacher

demo: install
	$(BIN)/stockteacher demo $(DEMO_ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check stockteacher tests benchmarks
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/store_throughput.py
	$(BIN)/python benchmarks/prompt_tokens.py
	$(BIN)/python benchmarks/analyzer_throughput.py
	$(BIN)/python benchmarks/api_latency.py
	$(BIN)/python benchmarks/capacity.py
	$(BIN)/python benchmarks/feed_intake.py

clean:
	rm -rf $(VENV) var .pytest_cache
