# Two commands for a newcomer (Debian 12, root):  make up   and   make test
SHELL := /bin/bash
VENV ?= $(or $(CLICKSTREAM_VENV),/opt/clickstream-analytics/venv)
# The scripts read the venv from CLICKSTREAM_VENV: `make up VENV=/elsewhere` builds and uses that one.
export CLICKSTREAM_VENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST_ARGS ?=

.PHONY: help bootstrap bootstrap-dev up site check down teardown test lint unit bench etl-now etl-replay etl-rebuild lake-backfill

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## Install Debian packages and the Python venv with what make up runs (idempotent)
	@bash scripts/bootstrap.sh

bootstrap-dev: ## bootstrap, plus the test, lint and benchmark tools (requirements-dev.txt)
	@bash scripts/bootstrap.sh --dev

up: bootstrap ## Provision the whole platform locally, send a demo month of traffic, run the ETL, print where things are
	@bash scripts/up.sh

site: bootstrap ## Run site.yml against the local inventory (ARGS="--tags network" etc.)
	ansible-playbook site.yml $(ARGS)

check: bootstrap ## Dry run: site.yml --check --diff against the local inventory
	ansible-playbook site.yml --check --diff $(ARGS)

down: ## Stop every local service (emulator, ingest endpoint, ETL scheduler, Shiny, PostgreSQL clusters)
	@bash scripts/local-services.sh stop

teardown: bootstrap ## Remove every resource the suite created (asks first; CONFIRM=yes to skip)
	ansible-playbook playbooks/teardown.yml $(if $(CONFIRM),-e teardown_confirm=$(CONFIRM))

lint: bootstrap-dev ## yamllint, ansible-lint (production profile), ruff
	yamllint -s .
	ansible-lint --profile production
	ruff check .

test: bootstrap-dev lint ## The whole test suite (installs and starts what it needs)
	bash scripts/run-tests.sh $(PYTEST_ARGS)

bench: bootstrap-dev ## Run every benchmark and rewrite BENCHMARKS.md
	python bench/run_all.py

etl-now: ## Run the ETL once now against the local platform
	PYTHONPATH=lambdas/etl/src:lambdas/local_runtime python -m clickstream_local.etl_now

etl-replay: ## Load quarantined raw files again after a fix (KEY=<s3 key> for one, else every open one)
	PYTHONPATH=lambdas/etl/src:lambdas/local_runtime python -m clickstream_local.etl_now --replay $(KEY)

etl-rebuild: ## Recompute every aggregate of the days FROM..TO (YYYY-MM-DD) from the warehouse's events
	PYTHONPATH=lambdas/etl/src:lambdas/local_runtime python -m clickstream_local.etl_now --rebuild $(FROM) $(TO)

lake-backfill: ## Export the warehouse's history into the lake, once (idempotent; docs/lake.md)
	PYTHONPATH=lambdas/etl/src:lambdas/local_runtime python -m clickstream_local.etl_now --lake-backfill
