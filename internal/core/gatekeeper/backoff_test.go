package gatekeeper

import (
	"testing"
	"time"
)

// TestRetryDelayGrowsAsDocumented: docs/reliability.md says a retry waits
// RetryBase·2^(n-1), capped at RetryMax, jittered uniformly in [d/2, d].
func TestRetryDelayGrowsAsDocumented(t *testing.T) {
	g := &Gatekeeper{o: Options{RetryBase: 250 * time.Millisecond, RetryMax: 30 * time.Second}}
	for _, c := range []struct {
		delivered uint64
		want      time.Duration
	}{
		{0, 250 * time.Millisecond}, {1, 250 * time.Millisecond}, {2, 500 * time.Millisecond},
		{3, time.Second}, {7, 16 * time.Second}, {8, 30 * time.Second}, {9, 30 * time.Second}, {1000, 30 * time.Second},
	} {
		lo, hi := c.want, time.Duration(0)
		for range 2000 {
			d := g.backoff(c.delivered)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < c.want/2 || hi > c.want {
			t.Errorf("delivery %d: delays in [%s, %s], want within [%s, %s]", c.delivered, lo, hi, c.want/2, c.want)
		}
		// The jitter spreads the delays over the range, not a point.
		if hi-lo < c.want/4 {
			t.Errorf("delivery %d: delays in [%s, %s] hardly jittered; want spread over [%s, %s]", c.delivered, lo, hi, c.want/2, c.want)
		}
	}
}
