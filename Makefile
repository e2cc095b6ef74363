# Hush: `make run` starts the whole system on this machine, `make test` runs
# every test. Both install redis-server with apt-get when it is missing and
# you are root.

GO        ?= go
# Packages where concurrency lives run under the race detector.
RACE_PKGS ?= ./internal/core/gatekeeper/... ./internal/core/store/... ./internal/core/bus/...

.PHONY: all run test test-cluster lint deps test-deps proto build help soak bench mutate

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

deps: ## install redis-server when missing (apt-get, as root)
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: redis-server not found; installing Debian's redis-server"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
	      || { echo "make: apt-get install redis-server failed"; exit 1; }; \
	  else \
	    echo "make: redis-server not found. Install it (sudo apt-get install redis-server)"; \
	    echo "      or point HUSH_REDIS_URL (make run) / REDIS_URL (make test) at a server."; \
	    exit 1; \
	  fi; }

test-deps: deps ## also install chromium and the Node test tools (apt-get as root, then npm ci in tools/npm)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: chromium not found; installing Debian's chromium (the preference page is tested in it)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || { echo "make: apt-get install chromium failed"; exit 1; }; \
	  else \
	    echo "make: chromium not found; the preference-page test is skipped (fails under CI=true)."; \
	    echo "      Install it: sudo apt-get install chromium"; \
	  fi; }
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: npm not found; installing Debian's nodejs and npm (the API and page tests run Node tools)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null \
	      || { echo "make: apt-get install nodejs npm failed"; exit 1; }; \
	  else \
	    echo "make: npm not found; the OpenAPI and accessibility tests are skipped (they fail under CI=true)."; \
	    echo "      Install it: sudo apt-get install nodejs npm"; \
	  fi; }
# The OpenAPI linter, the client generator and axe-core, at the versions
# tools/npm/package-lock.json pins.
	@if command -v npm >/dev/null 2>&1; then cd tools/npm && npm ci --no-audit --no-fund --loglevel=error; fi

run: deps ## start NATS (in-process), Redis, the gatekeeper and a demo workload
	@$(GO) build -o bin/hushdev ./services/hushdev
	@bin/hushdev $(RUN_ARGS)

build: ## build every binary into bin/
	$(GO) build -o bin/ ./services/...

test: test-deps lint ## run every test (race detector on the concurrent packages)
	$(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /internal/core/gatekeeper -e /internal/core/store -e /internal/core/bus)

# The cluster tests are part of `make test` (about a minute on 2 cores);
# this runs only them: the gatekeeper's end-to-end scenarios on a NATS
# cluster and a Redis Cluster together, the Redis Cluster failover, the NATS
# server loss, and the store's checks on a Redis Cluster.
test-cluster: deps ## only the cluster and failover tests (docs/performance.md, Scale-out)
	$(GO) test -race -count=1 -run 'Cluster|Correctness' ./internal/core/gatekeeper/... ./internal/core/store/...
	$(GO) test -count=1 -run 'RedisCluster' ./internal/dev/...

# The fault-injection soak (docs/reliability.md): `make soak` runs 1M
# intents; pass other settings with SOAK_ARGS="--intents 200000 ...".
SOAK_ARGS ?=
soak: deps ## fault-injection soak: gatekeepers killed, Redis and NATS restarted, streams audited
	$(GO) build -o bin/ ./services/gatekeeper ./services/natsd ./services/soak
	bin/soak --bin-dir bin $(SOAK_ARGS)

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Extra loadgen flags, e.g. BENCH_ARGS="--redis-cluster" or "--nats-cluster"
# or "--phases hush --profile-dir bench/prof" (see go run ./services/loadgen --help).
BENCH_ARGS ?=

bench: deps ## Go benchmarks (allocs/op), then the load run: prints a table, writes bench/results.json
	$(GO) test -run '^$$' -bench . -benchmem ./internal/core/policy ./internal/core/bus ./internal/core/store
	@uptime
	$(GO) run ./services/loadgen --out bench/results.json $(BENCH_ARGS)

proto: ## regenerate Go code from proto/ with the tools pinned in go.mod
	$(GO) tool buf lint
	$(GO) tool buf generate

# The mutation check (docs/reliability.md): each named break of an invariant
# must make a test fail. `make mutate MUTATE_ARGS="--only replay-removed"`.
MUTATE_ARGS ?=
mutate: deps ## break each invariant on purpose, one mutant at a time; every one must be caught
	$(GO) run ./services/mutate $(MUTATE_ARGS)
