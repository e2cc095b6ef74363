#!/usr/bin/env bash
# build.sh tools|images|compose-plugin|promtool
#
# Makes what `docker compose` needs on a host that reaches no image
# registry, from the registries it does reach (the Go module proxy and
# Debian's packages):
#
#   tools           nats-server (the version go.mod pins), Jaeger v2,
#                   Prometheus and Compose v2, built from their Go modules
#                   once and cached
#                   in $HUSH_TOOLS_DIR (default ~/.cache/hush/tools, outside
#                   the work tree so that a fresh clone reuses them)
#   compose-plugin  builds Compose v2 and installs it as the Docker CLI
#                   plugin ~/.docker/cli-plugins/docker-compose
#   promtool        builds promtool and prints its path
#   prometheus      builds the Prometheus server (no UI assets; its API and
#                   rule evaluation work) and prints its path
#   images          the stand-in images of deploy/docker/local/Dockerfile,
#                   tagged as deploy/docker/compose.local.yml expects
#
# Every module is built inside its own source tree, so that the replace
# directives of its go.mod apply (go install pkg@version refuses them).
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
tools=${HUSH_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hush/tools}
COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}
# Jaeger v2.13.0 (docker-compose.yml's JAEGER_VERSION) is tagged v1.76.0 in
# the Go module.
JAEGER_MODULE_VERSION=${JAEGER_MODULE_VERSION:-v1.76.0}
PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-v0.316.0}
HUSH_VERSION=${HUSH_VERSION:-dev}
mkdir -p "$tools"

log() { printf 'local-images: %s\n' "$*" >&2; }

# build_module MODULE VERSION PACKAGE OUT [LDFLAGS]: OUT, unless it exists.
build_module() {
	local mod=$1 ver=$2 pkg=$3 out=$4 ldflags=${5:-} dir src start=$SECONDS
	[ -x "$out" ] && return 0
	log "building $pkg of $mod@$ver (once; cached as $out)"
	dir=$(cd "$tools" && go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || { log "go mod download $mod@$ver failed"; return 1; }
	src=$(mktemp -d)
	cp -r "$dir/." "$src"
	chmod -R u+w "$src"
	(cd "$src" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
	mv "$out.tmp" "$out"
	rm -rf "$src"
	log "built $(basename "$out") in $((SECONDS - start))s"
}

nats_server() {
	local ver out
	ver=$(cd "$root" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
	out=$tools/nats-server-$ver
	if [ ! -x "$out" ]; then
		log "building nats-server $ver (the version go.mod pins)"
		(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/nats-io/nats-server/v2)
		mv "$out.tmp" "$out"
	fi
	echo "$out"
}

jaeger() {
	local out=$tools/jaeger-$JAEGER_MODULE_VERSION
	build_module github.com/jaegertracing/jaeger "$JAEGER_MODULE_VERSION" ./cmd/jaeger "$out"
	echo "$out"
}

compose() {
	local out=$tools/docker-compose-$COMPOSE_VERSION
	build_module github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd "$out" \
		"-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
	echo "$out"
}

promtool() {
	local out=$tools/promtool-$PROMETHEUS_MODULE_VERSION
	build_module github.com/prometheus/prometheus "$PROMETHEUS_MODULE_VERSION" ./cmd/promtool "$out"
	echo "$out"
}

prometheus() {
	local out=$tools/prometheus-$PROMETHEUS_MODULE_VERSION
	build_module github.com/prometheus/prometheus "$PROMETHEUS_MODULE_VERSION" ./cmd/prometheus "$out"
	echo "$out"
}

compose_plugin() {
	local bin plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
	bin=$(compose)
	mkdir -p "$plugins"
	install -m 0755 "$bin" "$plugins/docker-compose"
	log "installed $plugins/docker-compose ($COMPOSE_VERSION)"
}

# copy_with_libs BIN DEST: BIN and every shared library it loads, at the
# same paths under DEST.
copy_with_libs() {
	local bin=$1 dest=$2 lib
	mkdir -p "$dest/usr/local/bin"
	cp -L "$bin" "$dest/usr/local/bin/$(basename "$bin")"
	for lib in $(ldd "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
		mkdir -p "$dest$(dirname "$lib")"
		cp -L "$lib" "$dest$lib"
	done
}

redis_rootfs() {
	local r=$1 busybox applet
	busybox=$(command -v busybox) || { log "busybox is missing (apt-get install busybox-static)"; return 1; }
	if ldd "$busybox" >/dev/null 2>&1; then
		log "$busybox is linked dynamically; install busybox-static"
		return 1
	fi
	for b in redis-server redis-cli; do
		command -v "$b" >/dev/null || { log "$b is missing (apt-get install redis-server)"; return 1; }
	done
	mkdir -p "$r/bin" "$r/etc" "$r/data" "$r/tmp" "$r/run"
	chmod 1777 "$r/tmp"
	cp "$busybox" "$r/bin/busybox"
	for applet in $("$busybox" --list); do
		[ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"
	done
	copy_with_libs "$(command -v redis-server)" "$r"
	copy_with_libs "$(command -v redis-cli)" "$r"
	# util-linux's setpriv drops root for the redis user (busybox's cannot)
	copy_with_libs "$(command -v setpriv)" "$r"
	install -m 0755 "$root/deploy/docker/local/redis-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
	printf 'root:x:0:0:root:/root:/bin/sh\nredis:x:999:999:redis:/data:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nredis:x:999:\nnogroup:x:65534:\n' >"$r/etc/group"
}

images() {
	local stage start=$SECONDS t
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' RETURN
	log "building the Hush binaries"
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$HUSH_VERSION" -o "$stage/" \
		./services/gatekeeper ./services/prefs ./services/demo ./deploy/docker/probe)
	cp "$(nats_server)" "$stage/nats-server"
	cp "$(jaeger)" "$stage/jaeger"
	cp "$(prometheus)" "$stage/prometheus"
	cp "$root/deploy/policy/default.yaml" "$stage/default.yaml"
	redis_rootfs "$stage/redis-rootfs"
	for t in nats redis jaeger prometheus gatekeeper prefs demo; do
		local tag=hush-local/$t:dev
		case $t in gatekeeper | prefs | demo) tag=hush/$t:$HUSH_VERSION ;; esac
		# The legacy builder: it needs no buildx plugin and pulls nothing
		# for FROM scratch. Its deprecation notice is dropped; errors are not.
		if ! out=$(DOCKER_BUILDKIT=0 docker build -q -f "$root/deploy/docker/local/Dockerfile" --target "$t" -t "$tag" "$stage" 2>&1); then
			printf '%s\n' "$out" >&2
			return 1
		fi
		log "image $tag"
	done
	log "images built in $((SECONDS - start))s"
}

case ${1:-} in
tools) nats_server >/dev/null && jaeger >/dev/null && prometheus >/dev/null && compose >/dev/null ;;
compose-plugin) compose_plugin ;;
promtool) promtool ;;
prometheus) prometheus ;;
images) images ;;
*)
	echo "usage: $0 tools|compose-plugin|promtool|prometheus|images" >&2
	exit 2
	;;
esac
