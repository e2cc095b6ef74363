package store_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// BenchmarkDecide measures one decision's store call (the Lua script, one
// round trip) against a real redis-server with the AOF on, as in production,
// with the default policy's caps. Customers rotate over 10,000 so ledgers
// fill up the way they do under load. The parallel case shows what one
// Redis does with many callers.
//
// Besides the client's time, each case reports what the decisions cost
// the server: its CPU (INFO cpu, user + sys) in µs per decision,
// redis-µs/op, and how much its memory grew (INFO memory, used_memory)
// per decision, redis-B/op. The server's CPU includes the AOF writes the
// scripts propagate, which the client's ns/op hides when Redis has a core
// of its own.
func BenchmarkDecide(b *testing.B) {
	pol, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		b.Fatal(err)
	}
	r := testenv.StartRedis(b, testenv.RedisOptions{AppendOnly: true, Private: true})
	st := store.New(r.Client, r.Prefix)
	var seq atomic.Int64
	decide := func(ctx context.Context) error {
		n := seq.Add(1)
		now := time.Now()
		it := &hushv1.ContactIntent{
			Id: "bench-" + strconv.FormatInt(n, 10), CustomerId: "c-" + strconv.FormatInt(n%10_000, 10),
			Channel: "email", Category: "service", Topic: "renewal", Sender: &hushv1.Sender{Service: "billing"},
			CreatedAt: timestamppb.New(now),
		}
		v := pol.Evaluate(policy.Input{Intent: it, Now: now})
		d := pol.Decision(it, &v, now, "")
		_, err := st.Decide(ctx, store.DecideRequest{Intent: it, Now: now, Verdict: &v, Decision: d,
			DecisionRetention: pol.DecisionRetention, LedgerRetention: pol.LedgerRetention})
		return err
	}
	b.Run("serial", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		defer reportServerCost(b, r)()
		for b.Loop() {
			if err := decide(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		defer reportServerCost(b, r)()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := decide(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// reportServerCost reads the server's CPU time and memory now; the function
// it returns reports their growth per operation (b.N) since.
func reportServerCost(b *testing.B, r *testenv.Redis) func() {
	b.Helper()
	cpu0, user0, mem0 := serverCost(b, r)
	return func() {
		cpu1, user1, mem1 := serverCost(b, r)
		if b.N > 0 {
			b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "redis-µs/op")
			b.ReportMetric((user1-user0)*1e6/float64(b.N), "redis-user-µs/op")
			b.ReportMetric(float64(mem1-mem0)/float64(b.N), "redis-B/op")
		}
	}
}

// serverCost returns the server's CPU time, user and system, and user
// alone (the scripts' work; the system time is mostly the sockets and the
// AOF), in seconds, and its used_memory in bytes.
func serverCost(b *testing.B, r *testenv.Redis) (cpu, user float64, mem int64) {
	b.Helper()
	info, err := r.Client.Info(context.Background(), "cpu", "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "used_cpu_user", "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
			if k == "used_cpu_user" {
				user = f
			}
		case "used_memory":
			mem, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return cpu, user, mem
}
