# The two commands: `make demo` (run the daily extract on the local sandbox) and `make test`.
# Both set up everything they need from a fresh clone: a virtualenv with the pinned set
# (.ci/constraints.txt: Airflow 3.3.2 and friends) and Azurite from npm for the storage tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AZURITE := tests/storage_servers/node_modules/.bin/azurite

.PHONY: setup demo test lint typecheck unit docs bench clean chromium

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c .ci/constraints.txt -e ".[test,parquet,ui]"
	touch $(STAMP)

$(AZURITE): tests/storage_servers/package.json
	cd tests/storage_servers && npm ci --no-audit --no-fund --silent

setup: $(STAMP) $(AZURITE) chromium

# The connection form's browser test (tests/ui) drives Debian's chromium (Playwright's own browser
# download cannot reach here). Best effort: where it cannot be installed, that test skips saying so.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "Chromium cannot be installed: tests/ui will be skipped"

demo: $(STAMP)
	$(BIN)/python -m dags_examples.run_demo

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_insights dags_examples tests bench
	$(BIN)/ruff format --check airflow_provider_insights dags_examples tests bench

typecheck: $(STAMP)
	$(BIN)/mypy airflow_provider_insights

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -f docs/mkdocs.yml -d ../site

unit: setup
	$(BIN)/pytest -q

test: setup lint typecheck docs unit

# Every figure in one table, and docs/content/performance.md rewritten; BENCH_ARGS=--quick runs each side once.
bench: setup
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) site .sandbox tests/storage_servers/node_modules
