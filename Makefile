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
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(BIN)/python -c 'import nrrc, msgspec, aiomqtt, amqtt, pytest, hypothesis'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nrrc demo

LINTED := nrrc tests $(wildcard benchmarks/*.py) $(wildcard messages/examples/*.py)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy --strict nrrc

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

schemas: $(STAMP)
	$(BIN)/nrrc schema --export messages/schema
	$(BIN)/python messages/examples/generate.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_verify.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
