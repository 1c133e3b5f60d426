# Everyday commands; scripts/ holds what CI and the README run.
.PHONY: setup lint format test test-fast

setup:
	REQS=requirements-dev.txt scripts/setup.sh

lint: ## ruff, formatting, mypy and the import contracts, as CI runs them
	scripts/lint.sh

format: ## rewrite files to the project's format and import order
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

test-fast: ## no browser, no child processes, no fuzzing: one worker per core
	.venv/bin/python -m pytest -m "not e2e and not slow" -n auto -q

test: ## the whole suite, as CI runs it
	scripts/test.sh
