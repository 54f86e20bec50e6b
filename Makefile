# crimestream — every command a user needs. `make help` lists them.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PYTEST_ARGS ?=
CHAOS_ARGS ?=
BENCH_ARGS ?=

.PHONY: help install chromium run demo test lint bench chaos broker clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: .venv/.installed .cache/localkafka/.fetched chromium  ## install Python deps (uv, locked), fetch Kafka + registry, Chromium

chromium:  # Debian's Chromium, for the dashboard's browser test (Playwright drives it; no browser download)
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is needed for the browser test: sudo apt-get install chromium"; exit 1; fi; }

.venv/.installed: pyproject.toml uv.lock
	@test -x "$(UV)" || python3 -m pip install --quiet --user uv
	"$(UV)" sync --frozen
	@touch $@

.cache/localkafka/.fetched: .venv/.installed localkafka/pom.xml localkafka/artifacts.py
	@command -v java >/dev/null || { echo "Java 17+ is needed (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed once to fetch Kafka (apt-get install maven)"; exit 1; }
	"$(UV)" run --frozen crimestream broker --fetch-only
	@touch $@

run: install  ## run the pipeline against the real Chicago portal (broker, poller, processor, dashboard)
	"$(UV)" run --frozen crimestream up

demo: install  ## the same pipeline, fed by the bundled SODA emulator, fully offline
	DATA_DIR=$${DATA_DIR:-./data/demo} "$(UV)" run --frozen crimestream up --demo

test: install  ## lint, type-check and run every test (starts its own Kafka)
	"$(UV)" run --frozen ruff check .
	"$(UV)" run --frozen mypy
	"$(UV)" run --frozen pytest $(PYTEST_ARGS)

lint: install  ## ruff and mypy only
	"$(UV)" run --frozen ruff check .
	"$(UV)" run --frozen mypy

bench: install  ## every benchmark in one run -> benchmarks/RESULTS.md (BENCH_ARGS: --rows N, --full, --only NAME)
	"$(UV)" run --frozen python benchmarks/run_all.py $(BENCH_ARGS)

chaos: install  ## 10 min of random faults on the whole pipeline, then the lake checked row by row; CHAOS_ARGS="--duration 120"
	"$(UV)" run --frozen python -m chaos $(CHAOS_ARGS)

broker: install  ## only the local Kafka broker and schema registry
	"$(UV)" run --frozen crimestream broker

clean:  ## remove local data, caches and the virtualenv
	rm -rf .venv .cache data .pytest_cache .mypy_cache .ruff_cache test-artifacts
