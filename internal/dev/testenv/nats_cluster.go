package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/dev/localsrv"
)

// StartNATSCluster starts a cluster of three in-process NATS servers with
// JetStream, ready for streams with 3 replicas, shut down when the test
// ends. Its URL lists every member, so clients fail over.
func StartNATSCluster(t testing.TB) *localsrv.NATSCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localsrv.StartNATSCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}
