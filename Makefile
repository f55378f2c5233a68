# The two commands a new machine needs: `make demo` and `make test`.
# Each creates the virtual environment and installs what is missing on its own.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit setup system-deps bench clean

demo: setup
	$(BIN)/fleet demo

test: setup lint typecheck unit

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint:
	$(BIN)/ruff check fleet tests bench hil
	$(BIN)/ruff format --check fleet tests bench hil

typecheck:
	$(BIN)/mypy --strict fleet

unit:
	$(BIN)/pytest -q

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
