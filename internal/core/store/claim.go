package store

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Claim records d for an intent that has no decision yet and returns nil;
// when one exists it returns it and records nothing. The gatekeeper uses it
// to dead-letter an intent whose deliveries ran out without racing a late
// worker that is still deciding it: whichever records first wins.
func (s *Store) Claim(ctx context.Context, customer, intentID string, d *hushv1.Decision, retention time.Duration) (*hushv1.Decision, error) {
	blob, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode decision: %w", err)
	}
	key := s.DecisionKey(customer, intentID)
	ok, err := s.setNX(ctx, key, "\x1e"+string(blob), retention)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", intentID, err)
	}
	if ok {
		return nil, nil
	}
	_, cur, err := s.record(ctx, key)
	if err != nil {
		return nil, err
	}
	if cur == nil { // expired in between: claim again
		return s.Claim(ctx, customer, intentID, d, retention)
	}
	return cur, nil
}

func (s *Store) setNX(ctx context.Context, key, val string, ttl time.Duration) (bool, error) {
	return compareAndSetScript.Run(ctx, s.rdb, []string{key}, "", val, ttl.Milliseconds()).Bool()
}
