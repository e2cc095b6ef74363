package store

import (
	"context"
	"errors"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ErrKeptChanging is returned by DecideFresh when the preferences (or the
// reply window) changed under every attempt.
var ErrKeptChanging = errors.New("preferences kept changing during the decision")

// freshAttempts bounds DecideFresh: preferences change rarely, so a third
// change within one decision means something is writing in a loop.
const freshAttempts = 3

// Seen is what the rules are evaluated with besides the intent and the
// clock: the customer's preferences with their version (nil and 0 when
// none), and the end of the reply window of the thread the intent answers.
type Seen struct {
	Prefs        *hushv1.Preferences
	PrefsVersion uint64
	ReplyUntil   time.Time
}

// Fresh is how DecideFresh decides one intent. Only Policy is required.
type Fresh struct {
	Policy *policy.Policy
	// Publisher is who published the intent, as the bus proves it (see
	// policy.Input); nil when the caller vouches for its sender.
	Publisher *policy.Publisher
	// Now is the clock read for each attempt (time.Now when nil).
	Now func() time.Time
	// TraceID goes on the decision.
	TraceID string
	// Before runs after each evaluation, before its decision is recorded;
	// an error ends the decision (the gatekeeper reserves an agent's
	// budget here).
	Before func(ctx context.Context, v *policy.Verdict, now time.Time) error
	// Abandon runs when an attempt that passed Before records nothing: the
	// store failed, or every attempt was stale.
	Abandon func(ctx context.Context)
	// Stale runs with the current inputs when the store refused stale ones
	// (to refresh a cache).
	Stale func(Seen)
	// Source names the message being decided (DecideRequest.Source).
	Source string
}

// DecideFresh evaluates the rules for an intent and records the decision;
// when the store says what the rules saw is stale, it evaluates again with
// the current preferences and reply window, up to three times. This is the
// decide-and-retry loop every caller of Decide needs.
func (s *Store) DecideFresh(ctx context.Context, f Fresh, it *hushv1.ContactIntent, seen Seen) (DecideResult, error) {
	pol := f.Policy
	var turn turnState
	for range freshAttempts {
		req, err := f.request(ctx, it, seen)
		if err != nil {
			return DecideResult{}, err
		}
		res, err := s.decideInTurn(ctx, &turn, req, pol.ArbitrationWindow(), f.Now)
		if err != nil {
			f.abandon(ctx)
			return DecideResult{}, err
		}
		if !res.Stale {
			return res, nil
		}
		seen = Seen{Prefs: res.Prefs, PrefsVersion: res.PrefsVersion, ReplyUntil: res.ReplyUntil}
		if f.Stale != nil {
			f.Stale(seen)
		}
	}
	f.abandon(ctx)
	return DecideResult{}, ErrKeptChanging
}

// request evaluates the rules for one attempt, with the clock read once,
// runs Before and builds what the store checks and records. It is the one
// path from the rules to the store: DecideFresh records what it builds, and
// Check (check.go) runs the same request through a dry run of the decide
// script, so that a check answers what the gate would decide.
func (f *Fresh) request(ctx context.Context, it *hushv1.ContactIntent, seen Seen) (DecideRequest, error) {
	pol := f.Policy
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	v := pol.Evaluate(policy.Input{Intent: it, Prefs: seen.Prefs, Now: now, ReplyUntil: seen.ReplyUntil, Publisher: f.Publisher})
	if f.Before != nil {
		if err := f.Before(ctx, &v, now); err != nil {
			return DecideRequest{}, err
		}
	}
	return DecideRequest{
		Intent:            it,
		PrefsVersion:      seen.PrefsVersion,
		Now:               now,
		Verdict:           &v,
		Decision:          pol.Decision(it, &v, now, f.TraceID),
		DecisionRetention: pol.DecisionRetention,
		LedgerRetention:   pol.LedgerRetention,
		ReplyUntil:        seen.ReplyUntil,
		Source:            f.Source,
	}, nil
}

func (f *Fresh) abandon(ctx context.Context) {
	if f.Abandon != nil {
		f.Abandon(ctx)
	}
}
