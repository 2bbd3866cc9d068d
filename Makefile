# The two commands a newcomer needs are `make run` and `make test`; `make help` lists the rest.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# uv manages the virtualenv and the lock file. If it is missing, `pip install uv` provides it
# (and `python3 -m uv` runs it without touching PATH).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --no-sync

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: uv
uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet uv

.PHONY: install
install: uv ## Install the locked dependencies into .venv
	@$(UV) sync --locked

.PHONY: run
run: install ## Run the whole service (API, worker, beat; embedded PostgreSQL/Redis if no URLs)
	@$(RUN) python -m app.devstack

.PHONY: test
test: install lint typecheck imports ## Lint, type-check and run the whole suite with coverage
	@$(RUN) pytest --cov --cov-report=term

.PHONY: lint
lint: install ## ruff lint and format check
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .

.PHONY: fmt
fmt: install ## Apply ruff's fixes and formatting
	@$(RUN) ruff check --fix .
	@$(RUN) ruff format .

.PHONY: typecheck
typecheck: install ## mypy --strict on app/ and worker/
	@$(RUN) mypy

.PHONY: imports
imports: install ## Domains import each other only through their service modules
	@$(RUN) lint-imports

.PHONY: migrate
migrate: install ## Apply migrations (to DATABASE_URL, else the embedded database)
	@$(RUN) python -m app.devstack alembic upgrade head

.PHONY: migration
migration: install ## Autogenerate a migration: make migration m="add posts"
	@test -n "$(m)" || (echo 'usage: make migration m="what it does"' && exit 2)
	@$(RUN) python -m app.devstack alembic revision --autogenerate -m "$(m)"

.PHONY: isolation-demo
isolation-demo: install ## Two buyers, one item: lost update vs FOR UPDATE vs SERIALIZABLE
	@$(RUN) python -m app.devstack isolation-demo

.PHONY: bench
bench: install ## Load-test the service against a raw asyncpg baseline; writes docs/performance.md
	@$(RUN) python -m tests.bench

.PHONY: clean
clean: ## Remove caches (keeps .data/, the embedded databases)
	@rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
