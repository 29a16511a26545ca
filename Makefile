# backflow — the two commands a fresh machine needs are `make demo` and `make test`.
# Both install what they need: the Python tools from PyPI into a project-local venv
# (.local/venv/tools, scripts/venv.sh; never into the machine's Python, whichever
# python3 or virtualenv is active), Rust crates from crates.io.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(shell scripts/target-dir.sh)

.PHONY: help demo test lint fmt build bench local-up local-down deploy deps clean-local

help:
	@echo "make demo        whole pipeline on the local stack: quickstart warehouse -> emulator"
	@echo "make test        everything CI runs (fmt, clippy, Rust tests, Python tests, infra checks)"
	@echo "make local-up    moto + Intercom emulator + cargo lambda watch (idempotent)"
	@echo "make local-down  stop the local stack"
	@echo "make bench       benchmarks (results table in README.md)"
	@echo "make deploy      sam build + sam deploy into your AWS account"

deps:
	@scripts/install-deps.sh

demo: deps
	@scripts/demo.sh

test: deps
	@scripts/test.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

build:
	cargo build --workspace

bench: deps
	@scripts/bench.sh

local-up: deps
	@scripts/local-up.sh

local-down:
	@scripts/local-down.sh

deploy:
	@scripts/deploy.sh
