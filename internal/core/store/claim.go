package store

import (
	"context"
	"fmt"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Claim records d for an intent that has no decision yet and returns nil;
// when one exists it returns it and records nothing. The gatekeeper uses it
// to dead-letter an intent whose deliveries ran out without racing a late
// worker that is still deciding it: whichever records first wins.
func (s *Store) Claim(ctx context.Context, customer, intentID string, d *hushv1.Decision, retention time.Duration) (*hushv1.Decision, error) {
	blob, err := encodeDecision(d)
	if err != nil {
		return nil, err
	}
	for {
		now := time.Now()
		ok, err := s.swapRecord(ctx, customer, intentID, "", "\x1e"+string(blob), now, retention)
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", intentID, err)
		}
		if ok {
			return nil, nil
		}
		_, cur, err := s.record(ctx, customer, intentID)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			return cur, nil
		}
		// removed in between: claim again
	}
}
