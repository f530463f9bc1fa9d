# The two commands a newcomer needs are `make run` and `make test`; both set up first.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/aerofs/target
PY := .venv/bin/python

.PHONY: help setup run test lint bench

help:
	@echo "make run    set up, then process the sample batch (data/landing -> data/lake)"
	@echo "make test   set up, then run the Rust and Python tests (pytest args: ARGS='-k cli')"
	@echo "make lint   ruff, mypy, dg check defs, cargo fmt, clippy"
	@echo "make bench  kernel benchmarks (see bench/README.md)"
	@echo "make setup  create/refresh .venv and build the Rust extension (idempotent)"

setup:
	bash scripts/setup.sh

run: setup
	bash scripts/run-demo.sh

test: setup
	bash scripts/test.sh $(ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	bash scripts/check-defs.sh
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

bench: setup
	$(PY) -m bench.kernels $(ARGS)
