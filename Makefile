# Hush: `make run` starts the whole system on this machine, `make test` runs
# every test. Both install redis-server with apt-get when it is missing and
# you are root. `make compose-smoke` starts the docker compose stack and
# checks it (docs/operations.md); it is not part of `make test`.

GO        ?= go
# Packages where concurrency lives run under the race detector.
RACE_PKGS ?= ./internal/core/gatekeeper/... ./internal/core/store/... ./internal/core/bus/...

.PHONY: all run test test-cluster lint deps test-deps proto build help soak bench bench-procs mutate compose-deps compose-images compose-smoke check-rules

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

# The gatekeeper as it is deployed: the real binary as separate processes
# against natsd, each one's CPU per decision reported (JSON intents by
# default here; BENCH_ARGS="--json 0" for protobuf).
bench-procs: deps ## load run with gatekeeper and NATS server as processes of their own: CPU per decision
	$(GO) build -o bin/ ./services/gatekeeper ./services/natsd
	@uptime
	$(GO) run ./services/loadgen --bin-dir bin --json 1 --out bench/results-procs.json $(BENCH_ARGS)

proto: ## regenerate Go code from proto/ with the tools pinned in go.mod
	$(GO) tool buf lint
	$(GO) tool buf generate

# The mutation check (docs/reliability.md): each named break of an invariant
# must make a test fail. `make mutate MUTATE_ARGS="--only replay-removed"`.
MUTATE_ARGS ?=
mutate: deps ## break each invariant on purpose, one mutant at a time; every one must be caught
	$(GO) run ./services/mutate $(MUTATE_ARGS)

# The docker compose stack, started and checked on this machine
# (docs/operations.md, "Check the stack: make compose-smoke"). Compose v2,
# Jaeger, Prometheus and promtool are built from their Go modules once (minutes each on
# two cores) and cached in HUSH_TOOLS_DIR, outside the work tree, so that a
# fresh clone reuses them. SMOKE_ARGS: e.g. "--keep" leaves the stack up,
# "--official" uses the official images (a host that reaches the registries).
HUSH_TOOLS_DIR ?= $(HOME)/.cache/hush/tools
export HUSH_TOOLS_DIR
SMOKE_ARGS ?=

# apt_install PACKAGE: installs a Debian package (as root) or says how.
apt_install = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing Debian's $(1)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null \
	    || { echo "make: apt-get install $(1) failed"; exit 1; }; \
	else echo "make: $(1) is missing; install it (sudo apt-get install $(1))"; exit 1; fi

compose-deps: deps ## Docker engine, busybox-static and Compose v2 (apt-get and a cached Go build, as root); starts dockerd
	@docker info >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1 || { $(call apt_install,docker.io); }
	@{ command -v busybox >/dev/null 2>&1 && ! ldd "$$(command -v busybox)" >/dev/null 2>&1; } || { $(call apt_install,busybox-static); }
	@docker info >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] || { echo "make: no Docker engine answers; start dockerd (as root)"; exit 1; }; \
	  echo "make: starting dockerd (log: /var/log/dockerd.log)"; \
	  nohup dockerd >/var/log/dockerd.log 2>&1 & \
	  for i in $$(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done; \
	  docker info >/dev/null 2>&1 || { echo "make: dockerd did not start; see /var/log/dockerd.log"; exit 1; }; }
	@docker compose version --short 2>/dev/null | grep -q '^v\?2\.' || deploy/docker/local/build.sh compose-plugin

compose-images: compose-deps ## stand-ins for the official images, for a host without a registry (deploy/docker/local)
	deploy/docker/local/build.sh images

compose-smoke: compose-images check-rules ## start the compose stack, check it from outside, take it down (5-10 min)
	$(GO) run ./services/composesmoke $(SMOKE_ARGS)

check-rules: ## check deploy/prometheus's rules and their unit tests with promtool (built once)
	HUSH_PROMTOOL=$$(deploy/docker/local/build.sh promtool) $(GO) test -count=1 -tags promtool -run 'Prometheus' ./deploy/
