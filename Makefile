# TCUP developer entry points.  `make demo` runs the whole job end to end on
# built-in defaults; `make test` runs every test.  Both install what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test test-unit test-integration lint format demo demo-down \
	cloud-up cloud-down cloud-status image server-image engine-up engine-down postgres-up postgres-down \
	browser bench clean

help:
	@echo "make demo           reference cloud + local server + image, run the container, show the verdict"
	@echo "make test           all tests (installs and starts what they need, stops it afterwards)"
	@echo "make test-unit      fast tests only"
	@echo "make lint / format  ruff"
	@echo "make cloud-up|cloud-down|cloud-status   the reference cloud on loopback"
	@echo "make image          build tcup:<version> and tcup:latest"
	@echo "make server-image   build tcup-server:<version> and tcup-server:latest"
	@echo "make bench          benchmarks in bench/ (print figures)"

$(STAMP): pyproject.toml server/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[tempest,launch,test]' -e './server[test]'
	@touch $@

venv: $(STAMP)

test: venv
	./tools/run-tests

test-unit: venv
	$(BIN)/pytest -q -m "not integration"

test-integration: venv
	./tools/run-tests --integration-only

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: venv
	./tools/demo

demo-down:
	./tools/demo --down

cloud-up: venv
	./tools/cloud/up

cloud-down:
	./tools/cloud/down

cloud-status:
	./tools/cloud/status

engine-up:
	./tools/docker/engine-up

engine-down:
	./tools/docker/engine-down

image: venv engine-up
	./container/build

server-image: venv engine-up
	./container/build --server

postgres-up:
	./tools/postgres/up

postgres-down:
	./tools/postgres/down

browser:
	./tools/browser/install

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
