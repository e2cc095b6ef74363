package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

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
				fresh := store.Fresh{Policy: c.Policy, Now: func() time.Time { return now },
					Stale: func(seen store.Seen) { cache.Store(k, prefsEntry{seen.Prefs, seen.PrefsVersion}) }}
				_, err := c.Store.DecideFresh(ctx, fresh, it, store.Seen{Prefs: e.p, PrefsVersion: e.v})
				switch {
				case errors.Is(err, store.ErrKeptChanging):
					// not decided: the next intent goes on
				case err != nil:
					if ctx.Err() == nil {
						errMu.Lock()
						first = err
						errMu.Unlock()
						cancel()
					}
					return
				default:
					done.Add(1)
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
