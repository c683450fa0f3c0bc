# Two commands for a newcomer: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test unit lint alerts docs services browser clean mutants

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## The whole flow on an embedded PostgreSQL server in ./ordersync-demo (no services needed).
demo: install
	$(BIN)/ordersync demo

## Every test tier against real PostgreSQL (and RabbitMQ), starting them if they are down.
test: install services browser alerts
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

## Unit tests only (no I/O, seconds).
unit: install
	$(BIN)/pytest tests/unit

## Deliberate bugs in throwaway copies of the code: each must fail the tests that guard it
## (a few minutes; not in CI — run it before resolving a change to the code it mutates).
mutants: install services
	$(BIN)/python -m tests.mutants

lint: install alerts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The alert rules (ops/alerts) checked and tested, and Prometheus's configuration
## checked, by promtool (installed from Debian's prometheus package when missing).
alerts:
	bash .ci/alert-rules.sh

## Regenerate docs/events.md from the event schemas and the routing table.
docs: install
	$(BIN)/python -m ops.eventdocs > docs/events.md

services:
	bash .ci/services.sh

## Debian's chromium for the dashboard's browser test (installed if missing).
browser:
	bash .ci/browser.sh

clean:
	rm -rf $(VENV) ordersync-demo
