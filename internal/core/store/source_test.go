package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestDecisionRecordKeepsTheMessageThatMadeIt: the gatekeeper tells a
// redelivery (same message) from a producer's republish (another message)
// by the source recorded with the decision; a record without one still
// replays.
func TestDecisionRecordKeepsTheMessageThatMadeIt(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"caps:\n  - { id: daily, scope: customer, window: 24h, max: 5, classes: [marketing] }\n")
	ctx := context.Background()
	now := time.Now()
	run := func(id, source string) store.DecideResult {
		t.Helper()
		res, err := st.DecideFresh(ctx, store.Fresh{Policy: pol, Now: func() time.Time { return now }, Source: source},
			intent(id, "c-1"), store.Seen{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if res := run("i-1", "HUSH_INTENTS/7"); res.Replayed || res.Decision.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("first decision %+v; want approved, not replayed", res)
	}
	for _, again := range []string{"HUSH_INTENTS/7", "HUSH_INTENTS/9", ""} {
		res := run("i-1", again)
		if !res.Replayed || res.Source != "HUSH_INTENTS/7" || res.Decision.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("decided again from %q: replayed %v, source %q, %v; want the approval replayed from HUSH_INTENTS/7", again, res.Replayed, res.Source, res.Decision.GetOutcome())
		}
	}
	if src, err := st.DecisionSource(ctx, "c-1", "i-1"); err != nil || src != "HUSH_INTENTS/7" {
		t.Fatalf("DecisionSource %q, %v", src, err)
	}
	if d, err := st.Decision(ctx, "c-1", "i-1"); err != nil || d.GetIntentId() != "i-1" {
		t.Fatalf("Decision %v, %v: the record with a source must decode", d, err)
	}

	// Without a source the record is as before, and replays with none.
	run("i-2", "")
	if res := run("i-2", "HUSH_INTENTS/3"); !res.Replayed || res.Source != "" {
		t.Fatalf("replay of a record without source: %+v", res)
	}
	if ledger, _ := st.Ledger(ctx, "c-1", now.Add(-time.Hour)); len(ledger) != 2 {
		t.Fatalf("ledger %v; want the two intents counted once each", ledger)
	}
}
