# The two commands of the README:
#   make demo   run verp on the embedded default, seeded, at http://127.0.0.1:8000
#   make test   lint, type-check and run the whole suite (SQLite, PostgreSQL, Redis, S3/KMS on loopback, browser)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck tools bench clean migration

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/verp demo

tools:
	bash .ci/tools.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) tools lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python bench/storage.py --size-mib 1024 --json
	$(BIN)/python bench/ingest.py --json
	$(BIN)/python bench/web.py --json
	$(BIN)/python bench/keys.py --keys 100000 --postgres --json
	$(BIN)/python bench/load.py --json

migration: $(STAMP)
	$(BIN)/python -m storage.migrations.regenerate

clean:
	rm -rf $(VENV) var test-artifacts
