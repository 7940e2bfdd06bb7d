# Two commands do all set-up on a fresh machine:
#   make demo   - create .venv, install, run the main job on the built-in data
#   make test   - create or update .venv, lint, run the whole test suite (the docs site build included)
#   make docs   - build the documentation site into build/docs
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,plot,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jaxsgd train

lint: $(STAMP)
	$(BIN)/ruff check jaxsgd tests scripts docs/conf.py

# The suite in parallel on every core (pytest-xdist), then the few latency-bound tests alone
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n auto -m "not serial"
	$(BIN)/python -m pytest -q -m serial

# The documentation site, warnings as errors, the tutorial executed: open build/docs/index.html
docs: $(STAMP)
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs build/docs

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
