package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// env is the servers a harness runs on: a NATS server and a redis-server of
// one test's own, or a 3-server NATS cluster (R3 streams) and a 3-master
// Redis Cluster that the scenarios of a test share, one after the other.
type env struct {
	nats    *testenv.NATS
	streams bus.StreamOptions
	// redisURL is opened by connect.Redis, as the binaries open it: a
	// plain client or a cluster client.
	redisURL string
	// rdb is the test's own client (setting preferences, reading ledgers).
	rdb    redis.UniversalClient
	prefix string
	// shared: the streams of the previous harness are deleted before the
	// next one creates its own.
	shared    bool
	harnesses atomic.Int64
}

// singleEnv is a NATS server and a redis-server of t's own.
func singleEnv(t *testing.T) *env {
	n, r := testenv.StartNATS(t), testenv.StartRedis(t)
	return &env{nats: n, streams: bus.DefaultStreamOptions(), redisURL: r.URL, rdb: r.Client, prefix: r.Prefix}
}

// clusterEnv is what users grow into: every stream on three NATS servers,
// customers' slots spread over three Redis masters.
func clusterEnv(t *testing.T) *env {
	nc := testenv.StartNATSCluster(t)
	rc := testenv.StartRedisCluster(t)
	so := bus.DefaultStreamOptions()
	so.Replicas = 3
	return &env{nats: &testenv.NATS{URL: nc.URL}, streams: so, redisURL: rc.URL, rdb: rc.Client, prefix: rc.Prefix, shared: true}
}

// sharedEnvs are the envs of tests that run other tests as subtests on
// servers they share, by the sharing test's name.
var sharedEnvs sync.Map

// shareEnv makes newHarness of t's subtests run on e until t ends.
func shareEnv(t *testing.T, e *env) {
	sharedEnvs.Store(t.Name(), e)
	t.Cleanup(func() { sharedEnvs.Delete(t.Name()) })
}

// sharedEnv is the env t's top-level test shares, nil when it shares none.
func sharedEnv(t *testing.T) *env {
	top, _, _ := strings.Cut(t.Name(), "/")
	if e, ok := sharedEnvs.Load(top); ok && top != t.Name() {
		return e.(*env)
	}
	return nil
}

// nextPrefix is a Redis key prefix no other harness on the env uses.
func (e *env) nextPrefix() string {
	return fmt.Sprintf("%s-%d", e.prefix, e.harnesses.Add(1))
}

// freshStreams creates Hush's streams, empty: on a shared env the previous
// harness's are deleted first (its gatekeepers are gone with its test).
func (e *env) freshStreams(t *testing.T, js jetstream.JetStream, s bus.Subjects) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e.shared {
		for _, cfg := range s.StreamConfigs(e.streams) {
			if err := js.DeleteStream(ctx, cfg.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatalf("delete stream %s: %v", cfg.Name, err)
			}
		}
	}
	if err := s.EnsureStreams(ctx, js, e.streams); err != nil {
		t.Fatal(err)
	}
}

// redisClient opens a gatekeeper replica's own Redis connection; the
// replica's stop closes it.
func (h *harness) redisClient(poolSize int) redis.UniversalClient {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb, err := connect.Redis(ctx, h.redisURL, poolSize)
	if err != nil {
		h.t.Fatal(err)
	}
	if !h.autoPipeline {
		return rdb
	}
	ap, err := rdb.(autoPipeliner).AutoPipeline()
	if err != nil {
		h.t.Fatal(err)
	}
	// Closing the pipeliner leaves its client open.
	h.t.Cleanup(func() { rdb.Close() })
	return ap
}

// autoPipeliner is a client that can share pipelines between goroutines,
// as the gatekeeper binary's store client does.
type autoPipeliner interface {
	AutoPipeline() (*redis.AutoPipeliner, error)
}
