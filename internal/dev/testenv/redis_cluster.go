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

// RedisCluster is a real 3-master Redis Cluster for one test, started from
// the redis-server on PATH.
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

// StartRedisCluster starts a private 3-master Redis Cluster (AOF off) for
// t, killed when the test ends.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proc, err := localsrv.StartRedisCluster(ctx, localsrv.RedisClusterOptions{Dir: t.TempDir(), Masters: 3})
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
