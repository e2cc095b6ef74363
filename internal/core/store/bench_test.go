package store_test

import (
	"context"
	"strconv"
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
		for b.Loop() {
			if err := decide(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
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
