# Tower. The two set-up commands are `make run` and `make test`; `make help` lists the rest.
SHELL := /bin/bash
GO ?= go
BIN := bin/tower
CONFIG ?= config.example.yaml
NPM_STAMP := webapp/node_modules/.package-lock.json
WEBAPP_SRC := $(shell find webapp/src webapp/index.html webapp/vite.config.ts webapp/tsconfig.json -type f 2>/dev/null)
FUZZTIME ?= 10s
# A count, not a duration: a duration races the engine's shutdown on a busy
# machine and fails with "context deadline exceeded" having found nothing.
FUZZ_SMOKE_EXECS ?= 20000
# Targets named FuzzE2E* drive a whole node (HTTP, PostgreSQL) per input.
FUZZ_SMOKE_E2E_EXECS ?= 1000

.PHONY: help run build webapp test test-go test-webapp fuzz fuzz-smoke bench generate lint deps-postgres deps-browser clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

SIMULATE ?= on
run: deps-postgres build ## build and serve (project-local PostgreSQL unless DATABASE_URL is set; SIMULATE=off for no simulator)
	./$(BIN) serve --config $(CONFIG) --simulate $(SIMULATE)

build: webapp ## build the SPA and the tower binary
	$(GO) build -o $(BIN) ./cmd/tower

$(NPM_STAMP): webapp/package-lock.json
	cd webapp && npm ci --no-audit --no-fund
	@touch $@

webapp/dist/index.html: $(NPM_STAMP) $(WEBAPP_SRC)
	cd webapp && npm run build

webapp: webapp/dist/index.html ## build the SPA into webapp/dist (embedded by go build)

deps-postgres: ## install Debian's PostgreSQL server binaries if missing
	@bash dev/scripts/ensure-postgres.sh

deps-browser: ## install Debian's chromium and CJK fonts if missing (browser tests, zh-CN screenshots)
	@command -v chromium >/dev/null && [ -d /usr/share/fonts/opentype/noto ] || { echo "installing Debian's chromium and fonts-noto-cjk"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

test: deps-postgres deps-browser webapp ## everything: Go tests (real PostgreSQL), fuzz smoke, SPA unit and browser tests
	$(MAKE) test-go test-webapp fuzz-smoke
	@echo "make test: all passed"

# Packages run one at a time: they share one PostgreSQL server, and a long
# transaction in one package's database holds back the bus of the others.
test-go: ## Go unit, integration, end-to-end and browser tests
	TOWER_BROWSER_TESTS=1 $(GO) test -p 1 -count=1 -timeout 15m ./...

test-webapp: $(NPM_STAMP) ## SPA unit tests (vitest)
	cd webapp && npm test

fuzz-smoke: ## every fuzz target briefly (FUZZ_SMOKE_EXECS inputs each)
	@set -e; for pkg in $$($(GO) list ./... ); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    n=$(FUZZ_SMOKE_EXECS); case $$f in FuzzE2E*) n=$(FUZZ_SMOKE_E2E_EXECS);; esac; \
	    echo "fuzz $$pkg $$f ($$n inputs)"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$${n}x $$pkg >.fuzz.log 2>&1 || { tail -100 .fuzz.log; rm -f .fuzz.log; exit 1; }; \
	  done; done; rm -f .fuzz.log

fuzz: ## every fuzz target for FUZZTIME each (default 10s)
	@set -e; for pkg in $$($(GO) list ./... ); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; done

BENCH_DURATION ?= 60s
bench: deps-postgres build ## tower bench (the pipeline's figures, one table and a JSON report), then the Go benchmarks
	./$(BIN) bench --config $(CONFIG) --duration $(BENCH_DURATION)
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 -timeout 30m ./...

generate: ## regenerate gqlgen code
	$(GO) generate ./...

lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean: ## remove build output (keeps .data)
	rm -rf bin webapp/dist/assets webapp/dist/index.html
