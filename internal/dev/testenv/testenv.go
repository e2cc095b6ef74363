// Package testenv gives tests real servers: an in-process NATS server with
// JetStream and a real Redis (REDIS_URL, else a private redis-server process,
// else a testcontainers-go container when a Docker engine is reachable).
//
// When no Redis can be had, a test is skipped; with CI=true it fails instead,
// with a message saying how to install one. Nothing here is a fake.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tcnats "github.com/testcontainers/testcontainers-go/modules/nats"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/localsrv"
)

// Redis is a real Redis for one test, with a key prefix of its own so that
// tests sharing a server (REDIS_URL) never see each other's keys.
type Redis struct {
	URL    string
	Client *redis.Client
	// Prefix is unique to the test; pass it to store.New.
	Prefix string
	// Proc is the private redis-server process, nil when the server is
	// shared (REDIS_URL) or a container.
	Proc *localsrv.Redis
}

// RedisOptions select extras for a private redis-server.
type RedisOptions struct {
	// AppendOnly turns the AOF on, for restart tests.
	AppendOnly bool
	// Private forces a private process even when REDIS_URL is set (tests
	// that restart or configure the server).
	Private bool
	// Args are extra redis-server arguments.
	Args []string
}

// StartRedis returns a real Redis for t; see the package doc for where it
// comes from.
func StartRedis(t testing.TB, opts ...RedisOptions) *Redis {
	t.Helper()
	var o RedisOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	r := &Redis{Prefix: "t" + randomHex(6)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	switch url := os.Getenv("REDIS_URL"); {
	case url != "" && !o.Private:
		r.URL = url
	default:
		proc, err := localsrv.StartRedis(ctx, localsrv.RedisOptions{Dir: t.TempDir(), AppendOnly: o.AppendOnly, Args: o.Args})
		switch {
		case err == nil:
			r.Proc, r.URL = proc, proc.URL
			t.Cleanup(proc.Kill)
		case err == localsrv.ErrNoRedisServer && dockerReachable() && !o.Private:
			c, err := tcredis.Run(ctx, "redis:7")
			if err != nil {
				t.Fatalf("start redis container: %v", err)
			}
			t.Cleanup(func() { testcontainers.TerminateContainer(c) })
			if r.URL, err = c.ConnectionString(ctx); err != nil {
				t.Fatalf("redis container address: %v", err)
			}
		default:
			missing(t, "Redis", err)
		}
	}
	ropts, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatalf("redis url %q: %v", r.URL, err)
	}
	ropts.PoolSize = 64
	r.Client = redis.NewClient(ropts)
	t.Cleanup(func() { r.Client.Close() })
	if err := r.Client.Ping(ctx).Err(); err != nil {
		missing(t, "Redis at "+ropts.Addr, err)
	}
	return r
}

// NATS is a real NATS server with JetStream for one test.
type NATS struct {
	URL string
	// Server is the in-process server, nil for a container.
	Server *server.Server
}

// StartNATS starts an in-process NATS server with JetStream in a temporary
// directory on a random port (or a container when HUSH_TEST_CONTAINERS=1 and
// a Docker engine is reachable), stopped when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	if os.Getenv("HUSH_TEST_CONTAINERS") == "1" && dockerReachable() {
		ctx := context.Background()
		c, err := tcnats.Run(ctx, "nats:2.12")
		if err != nil {
			t.Fatalf("start nats container: %v", err)
		}
		t.Cleanup(func() { testcontainers.TerminateContainer(c) })
		url, err := c.ConnectionString(ctx)
		if err != nil {
			t.Fatalf("nats container address: %v", err)
		}
		return &NATS{URL: url}
	}
	ns, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return &NATS{URL: ns.ClientURL(), Server: ns}
}

// Connect opens a connection (closed when the test ends) and its JetStream
// context.
func (n *NATS) Connect(t testing.TB, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", n.URL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// EnsureStreams creates Hush's streams with default options.
func EnsureStreams(t testing.TB, js jetstream.JetStream, s bus.Subjects) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.EnsureStreams(ctx, js, bus.DefaultStreamOptions()); err != nil {
		t.Fatalf("%v", err)
	}
}

// missing reports a Redis that cannot be had (see Missing).
func missing(t testing.TB, what string, err error) {
	t.Helper()
	Missing(t, fmt.Sprintf("%s is not available: %v\n"+
		"Install it (Debian/Ubuntu: sudo apt-get install redis-server, or `make deps`), "+
		"or point REDIS_URL at a server.", what, err))
}

// Missing skips the test for a dependency this machine lacks, saying how
// to install it, or fails it when CI=true: on CI a missing dependency is a
// broken machine, not a reason to pass. Every such check goes through here.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func dockerReachable() bool {
	addr := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			return true
		}
		addr = strings.TrimPrefix(h, "unix://")
	}
	c, err := net.DialTimeout("unix", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
