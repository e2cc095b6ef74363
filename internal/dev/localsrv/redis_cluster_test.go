package localsrv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/dev/testenv"
)

// TestRedisClusterPrimaryKilledReplicaTakesOver: a 3+3 cluster, a master
// SIGKILLed, its replica promoted on its own within a few node timeouts,
// and every key that reached the replica (WAIT) readable afterwards through
// the same cluster client.
func TestRedisClusterPrimaryKilledReplicaTakesOver(t *testing.T) {
	c := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{Replicas: 1, NodeTimeout: time.Second, AppendOnly: true})
	if n := len(c.Proc.Nodes); n != 6 {
		t.Fatalf("%d nodes, want 3 masters and 3 replicas", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	masters := 0
	for i := range c.Proc.Nodes {
		role, err := c.Proc.Role(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if role == "master" {
			masters++
		}
	}
	if masters != 3 {
		t.Fatalf("%d masters, want 3", masters)
	}
	// Keys on every slot range, each acknowledged by a replica.
	const keys = 300
	for i := range keys {
		k := fmt.Sprintf("%s:{k%d}", c.Prefix, i)
		if err := c.Client.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Proc.Nodes {
		if role, _ := c.Proc.Role(ctx, i); role == "master" {
			if err := c.Proc.Client(i).Do(ctx, "WAIT", 1, 5000).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	f, err := c.Proc.KillPrimary(ctx, 0, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node 0 killed; node %d promoted after %s", f.Promoted, f.Took)
	if role, err := c.Proc.Role(ctx, f.Promoted); err != nil || role != "master" {
		t.Fatalf("promoted node %d is %q (%v)", f.Promoted, role, err)
	}
	// Its replica is dead: killing it would lose its slots, and is refused.
	if _, err := c.Proc.KillPrimary(ctx, f.Promoted, time.Second); err == nil {
		t.Fatalf("killing node %d, a master without a replica, was not refused", f.Promoted)
	}
	for i := range keys {
		k := fmt.Sprintf("%s:{k%d}", c.Prefix, i)
		got, err := c.Client.Get(ctx, k).Int()
		for attempt := 0; err != nil && attempt < 100; attempt++ {
			// The client learns the new master from its next slot map.
			time.Sleep(50 * time.Millisecond)
			got, err = c.Client.Get(ctx, k).Int()
		}
		if err != nil || got != i {
			t.Fatalf("%s = %d, %v after the failover; want %d", k, got, err, i)
		}
	}
}
