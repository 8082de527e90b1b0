# The README's quick start: `make run` and `make test` do all the set-up
# (scripts/bootstrap.sh is idempotent and fast when nothing changed).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON := .venv/bin/python

.PHONY: help run test test-sandbox lint fuzz bench clean

help:
	@echo "make run    set up, then start the three-site sandbox (Ctrl-C stops it)"
	@echo "make test   set up (PostgreSQL included), then ruff, mypy, lint-imports, pytest"
	@echo "make test-sandbox  the whole-sandbox fault tests (drills, restarts, moves, privacy in logs; ~7 min)"
	@echo "make lint   ruff, mypy and lint-imports only"
	@echo "make fuzz   the schemathesis API fuzz, 500 requests per operation, as each role (make test: 50, admin); resumable"
	@echo "make bench  run every bench/*.py"
	@echo "make clean  remove the install stamp, var/ and caches"

run:
	scripts/bootstrap.sh
	exec .venv/bin/yui sandbox up --foreground

test:
	scripts/bootstrap.sh --with-postgres --with-chromium
	scripts/test.sh

test-sandbox:
	scripts/bootstrap.sh --with-postgres --with-chromium
	YUI_TEST_MARKERS=sandbox scripts/test.sh

lint:
	scripts/bootstrap.sh
	LINT_ONLY=1 scripts/test.sh

# Resumable (run it again to go on where it stopped), one role at a time with
# YUI_FUZZ_ROLES="staff"; results and logs in var/fuzz (scripts/fuzz.sh says how).
fuzz:
	scripts/bootstrap.sh
	scripts/fuzz.sh

# Placeholder: runs every bench/*.py in turn; stops at the first that fails.
# Benchmarks are not part of `make test`.
bench:
	scripts/bootstrap.sh
	shopt -s nullglob; for f in bench/*.py; do echo "==> $$f"; $(PYTHON) "$$f"; done

clean:
	rm -f .venv/.yui-install.sha256
	rm -rf var .mypy-path .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
