package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ErrNotDeferred is returned by Reopen and Resolve when the intent's
// recorded decision is not (or no longer) a deferral.
var ErrNotDeferred = errors.New("intent is not deferred")

// Reopen forgets a deferral whose release time has come, so that the
// released intent is decided again instead of replaying "deferred": a
// deferral is the only decision that is not terminal. It does nothing when
// the record is not a deferral (the release was decided already, or the
// deferral was cancelled) or not yet due at now (a redelivery of the
// original intent): the record then replays as usual. slack tolerates
// clock skew between the scheduler and this replica.
func (s *Store) Reopen(ctx context.Context, customer, intentID string, now time.Time, slack time.Duration) (bool, error) {
	rec, d, err := s.record(ctx, customer, intentID)
	if err != nil || d == nil || d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED {
		return false, err
	}
	if d.GetReleaseAt().AsTime().After(now.Add(slack)) {
		return false, nil
	}
	ok, err := s.swapRecord(ctx, customer, intentID, rec, "", now, 0)
	if err != nil {
		return false, fmt.Errorf("reopen %s: %w", intentID, err)
	}
	return ok, nil
}

// Resolve replaces a pending deferral's record with a terminal decision
// (a cancellation), atomically with the check that it is still deferred. A
// record lost by Redis counts as deferred: the schedule in JetStream is the
// deferral's source of truth. It returns ErrNotDeferred when the intent was
// released and decided meanwhile.
func (s *Store) Resolve(ctx context.Context, customer, intentID string, d *hushv1.Decision, retention time.Duration) error {
	now := time.Now()
	rec, cur, err := s.record(ctx, customer, intentID)
	if err != nil {
		return err
	}
	if cur != nil && cur.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED {
		return ErrNotDeferred
	}
	blob, err := encodeDecision(d)
	if err != nil {
		return err
	}
	ok, err := s.swapRecord(ctx, customer, intentID, rec, "\x1e"+string(blob), now, retention)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", intentID, err)
	}
	if !ok {
		return ErrNotDeferred
	}
	return nil
}
