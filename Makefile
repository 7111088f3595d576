# The two commands a newcomer runs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.keel-installed
EXTRAS ?= dev,postgres,s3,ray,xgboost,lightgbm,onnx

.PHONY: setup demo test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@# openapi-python-client (the generated-client test) in an environment of its own: its
	@# pins (httpx<0.29, typer<0.28) would hold keel's dependencies back
	@test -x $(VENV)/tools/bin/python || $(BIN)/python -m venv $(VENV)/tools
	$(VENV)/tools/bin/python -m pip install --quiet "openapi-python-client==0.29.1"
	@touch $(STAMP)

demo: setup
	$(BIN)/keel quickstart

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: lint
	@# the tests start many keel processes: let them compile keel's modules once, even where
	@# the environment sets PYTHONDONTWRITEBYTECODE (this machine does)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/objects.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
