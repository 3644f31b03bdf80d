# Every target goes through infra/scripts; nothing here expects services already running on the
# usual ports. `make run` and `make test` are all a fresh Debian/Ubuntu machine needs.

SHELL := /bin/bash
.DEFAULT_GOAL := help
# Go from the official tarball is often not on PATH yet.
export PATH := $(PATH):/usr/local/go/bin

SCRIPTS := infra/scripts

.PHONY: help run test bench soak build up down status env lint fmt clean

help: ## show this help
	@echo "Targets:"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'
	@echo
	@echo "Settings: DATABASE_URL / REDIS_URL (use these servers instead of private ones),"
	@echo "CIC_DATA_DIR (default ./.data), CIC_PG_PORT (55432), CIC_REDIS_PORT (56379),"
	@echo "TEST_ARGS / TEST_PKGS for make test, BENCH / BENCH_ARGS for make bench, SOAK for make soak."

run: ## start PostgreSQL + Redis, migrate, seed the demo tenant, run server + worker
	@bash $(SCRIPTS)/run.sh

test: ## go vet + go test -race against private PostgreSQL + Redis (installs what is missing)
	@bash $(SCRIPTS)/test.sh

bench: ## benchmarks against private PostgreSQL + Redis
	@bash $(SCRIPTS)/bench.sh

soak: ## routing liveness soak against private Redis servers (SOAK=10m, SOAK_ARGS)
	@bash $(SCRIPTS)/soak.sh

build: ## build bin/cic
	go build -o bin/cic ./cmd/cic

up: ## start the private PostgreSQL + Redis
	@bash $(SCRIPTS)/services.sh up

down: ## stop the private PostgreSQL + Redis
	@bash $(SCRIPTS)/services.sh down

status: ## show the private PostgreSQL + Redis
	@bash $(SCRIPTS)/services.sh status

env: ## print export lines for DATABASE_URL, REDIS_URL, CIC_TEST_* (for eval; use make -s)
	@bash $(SCRIPTS)/services.sh env

lint: ## gofmt check, go vet, staticcheck
	@bash $(SCRIPTS)/lint.sh

fmt: ## gofmt -w the Go files
	@bash $(SCRIPTS)/lint.sh fmt

clean: ## remove build output (keeps .data; 'make down' first, then rm -rf .data to reset)
	rm -rf bin
	rm -f *.test *.out coverage.* cover.out
