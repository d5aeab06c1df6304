# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench schemas clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nrrc demo

lint: $(STAMP)
	$(BIN)/ruff check nrrc tests benchmarks
	$(BIN)/ruff format --check nrrc tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict nrrc

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

schemas: $(STAMP)
	$(BIN)/nrrc schema --export messages/schema

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_verify.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
