package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Ceiling is the Redis reference point: the decision script alone, driven
// flat out by many concurrent callers with the requests the gatekeeper
// would make for the workload (rules evaluated, preferences versions
// checked), and no NATS at all. Hush cannot decide faster than this on the
// same Redis.
type Ceiling struct {
	Store  *store.Store
	Policy *policy.Policy
	W      Workload
	Run    string
	// Concurrency is how many calls are in flight (the gatekeeper's
	// workers).
	Concurrency int
}

type prefsEntry struct {
	p *hushv1.Preferences
	v uint64
}

// Measure drives the store for warmup+d and returns decisions per second
// after the warm-up, and the decisions made in that time.
func (c *Ceiling) Measure(ctx context.Context, warmup, d time.Duration) (float64, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done  atomic.Int64
		seq   atomic.Uint64
		cache sync.Map
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for i := range max(c.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := c.W.NewGenerator(c.Run, uint64(i)+1000)
			for ctx.Err() == nil {
				k := gen.Customer()
				now := time.Now()
				it := gen.Next(seq.Add(1), k, now)
				var e prefsEntry
				if v, ok := cache.Load(k); ok {
					e = v.(prefsEntry)
				}
				for range 3 {
					v := c.Policy.Evaluate(policy.Input{Intent: it, Prefs: e.p, Now: now})
					dec := &hushv1.Decision{IntentId: it.GetId(), CustomerId: it.GetCustomerId(), Channel: it.GetChannel(),
						Category: it.GetCategory(), Outcome: v.Outcome, PolicyVersion: c.Policy.Version, DecidedAt: timestamppb.New(now)}
					if !v.Approved() {
						dec.Reasons = []*hushv1.Reason{v.Reason.Proto()}
					}
					res, err := c.Store.Decide(ctx, store.DecideRequest{Intent: it, PrefsVersion: e.v, Now: now, Verdict: &v,
						Decision: dec, DecisionRetention: c.Policy.DecisionRetention, LedgerRetention: c.Policy.LedgerRetention})
					if err != nil {
						if ctx.Err() == nil {
							errMu.Lock()
							first = err
							errMu.Unlock()
							cancel()
						}
						return
					}
					if !res.Stale {
						done.Add(1)
						break
					}
					e = prefsEntry{res.Prefs, res.PrefsVersion}
					cache.Store(k, e)
				}
			}
		}()
	}
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
	}
	start, n0 := time.Now(), done.Load()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	n := done.Load() - n0
	rate := float64(n) / time.Since(start).Seconds()
	cancel()
	wg.Wait()
	return rate, n, first
}
