package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// RedisCluster is a real Redis Cluster for one test, started from the
// redis-server on PATH.
type RedisCluster struct {
	// URL lists the nodes ("redis+cluster://a,b,c") for internal/platform/connect.
	URL string
	// Client is a cluster client, opened the way the binaries open one.
	Client redis.UniversalClient
	// Prefix is unique to the test.
	Prefix string
	// Proc is the cluster's processes.
	Proc *localsrv.RedisCluster
}

// RedisClusterOptions select the shape of a test's Redis Cluster.
type RedisClusterOptions struct {
	// Replicas per master (0): with 1, a killed master's replica takes
	// over (localsrv.RedisCluster.KillPrimary).
	Replicas int
	// NodeTimeout is cluster-node-timeout; localsrv's default when 0.
	NodeTimeout time.Duration
	// AppendOnly turns the AOF on, fsync every second, as shipped.
	AppendOnly bool
}

// StartRedisCluster starts a private Redis Cluster for t, killed when the
// test ends: 3 masters with AOF off, unless opts say otherwise.
func StartRedisCluster(t testing.TB, opts ...RedisClusterOptions) *RedisCluster {
	t.Helper()
	var o RedisClusterOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proc, err := localsrv.StartRedisCluster(ctx, localsrv.RedisClusterOptions{Dir: t.TempDir(), Masters: 3,
		Replicas: o.Replicas, NodeTimeout: o.NodeTimeout, AppendOnly: o.AppendOnly})
	switch {
	case errors.Is(err, localsrv.ErrNoRedisServer):
		missing(t, "Redis Cluster", err)
	case err != nil:
		t.Fatalf("%v", err)
	}
	t.Cleanup(proc.Kill)
	rdb, err := connect.Redis(ctx, proc.URL, 64)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { rdb.Close() })
	return &RedisCluster{URL: proc.URL, Client: rdb, Prefix: "t" + randomHex(6), Proc: proc}
}
