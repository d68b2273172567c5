# Two commands on a fresh machine (Python 3.11, pip, make):
#   make demo   — install into .venv and run the pipeline on the bundled sample news
#   make test   — install into .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
export RAY_USAGE_STATS_ENABLED ?= 0
export RAY_AUTH_MODE ?= disabled
SAMPLE_TICKERS := AAPL TSLA NVDA MSFT 005930.KS 000660.KS

.PHONY: install demo test lint bench clean

$(BIN)/stockteacher: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $@

install: $(BIN)/stockteacher

demo: install
	$(BIN)/stockteacher db upgrade
	@for t in $(SAMPLE_TICKERS); do \
	  $(BIN)/stockteacher collect $$t --source sample && $(BIN)/stockteacher analyze $$t || exit 1; \
	done
	@echo "reports: $$(ls var/storage/reports/*/*.md | wc -l) under var/storage/reports/"

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check stockteacher tests benchmarks

bench: install
	$(BIN)/python benchmarks/store_throughput.py
	$(BIN)/python benchmarks/prompt_tokens.py
	$(BIN)/python benchmarks/analyzer_throughput.py

clean:
	rm -rf $(VENV) var .pytest_cache
