# The two commands: `make demo` (run the daily extract on the local sandbox) and `make test`.
# Both set up everything they need from a fresh clone: a virtualenv with the pinned set
# (.ci/constraints.txt: Airflow 3.3.2 and friends) and Azurite from npm for the storage tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
E2E_STAMP := $(VENV)/.installed-e2e
AZURITE := tests/storage_servers/node_modules/.bin/azurite

.PHONY: setup demo test lint typecheck unit docs bench clean chromium e2e e2e-servers

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c .ci/constraints.txt -e ".[test,parquet,ui]"
	touch $(STAMP)

$(E2E_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c .ci/constraints.txt -e ".[test,parquet,ui,e2e]"
	touch $(E2E_STAMP)

$(AZURITE): tests/storage_servers/package.json
	cd tests/storage_servers && npm ci --no-audit --no-fund --silent

setup: $(STAMP) $(AZURITE) chromium

# The connection form's browser test (tests/ui) drives Debian's chromium (Playwright's own browser
# download cannot reach here). Best effort: where it cannot be installed, that test skips saying so.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "Chromium cannot be installed: tests/ui will be skipped"

# `make e2e` runs PostgreSQL (metadata database) and Redis (Celery broker) from Debian's packages,
# installed here when missing (apt-get needs root, as for chromium).
e2e-servers:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null; } \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; }

# The example DAGs in a real deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor,
# then CeleryExecutor with two workers), driven through the REST API, faults included. See docs/content/e2e.md.
e2e: $(E2E_STAMP) $(AZURITE) e2e-servers
	$(BIN)/python -m tests.e2e.run

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
