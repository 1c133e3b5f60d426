# Everyday commands; scripts/ holds what CI and the README run.
.PHONY: setup lint format test test-fast

setup:
	REQS=requirements-dev.txt scripts/setup.sh

lint: ## ruff, formatting, mypy and the import contracts, as CI runs them
	scripts/lint.sh

format: ## rewrite files to the project's format and import order
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

test-fast: ## everything but the browser tests, on two workers
	.venv/bin/python -m pytest -m "not e2e" -n 2 -q

test: ## the whole suite, as CI runs it
	scripts/test.sh
