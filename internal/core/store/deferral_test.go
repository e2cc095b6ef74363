package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// deferralRecord records a decision with the given outcome for intent id of
// customer c, as Decide does.
func deferralRecord(t *testing.T, st *store.Store, c, id string, outcome hushv1.Outcome, releaseAt time.Time) {
	t.Helper()
	it := &hushv1.ContactIntent{Id: id, CustomerId: c, Channel: "email", Category: "marketing"}
	v := policy.Verdict{Outcome: outcome, ReleaseAt: releaseAt}
	d := &hushv1.Decision{IntentId: id, CustomerId: c, Outcome: outcome, DecidedAt: timestamppb.Now()}
	if !releaseAt.IsZero() {
		d.ReleaseAt = timestamppb.New(releaseAt)
	}
	if _, err := st.Decide(context.Background(), store.DecideRequest{Intent: it, Now: time.Now(), Verdict: &v, Decision: d,
		DecisionRetention: time.Hour, LedgerRetention: time.Hour}); err != nil {
		t.Fatal(err)
	}
}

func TestReopenForgetsOnlyADueDeferral(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	now := time.Now()
	deferralRecord(t, st, "c", "due", hushv1.Outcome_OUTCOME_DEFERRED, now.Add(time.Second))
	deferralRecord(t, st, "c", "later", hushv1.Outcome_OUTCOME_DEFERRED, now.Add(time.Hour))
	deferralRecord(t, st, "c", "approved", hushv1.Outcome_OUTCOME_APPROVED, time.Time{})

	for _, tc := range []struct {
		id     string
		reopen bool
	}{
		{"due", true},       // inside the slack
		{"later", false},    // a redelivery of the original intent: replay
		{"approved", false}, // decided after its release: replay
		{"never", false},    // no record: decided from scratch anyway
	} {
		got, err := st.Reopen(ctx, "c", tc.id, now, 2*time.Second)
		if err != nil || got != tc.reopen {
			t.Errorf("Reopen(%s) = %v, %v; want %v", tc.id, got, err, tc.reopen)
		}
	}
	if d, _ := st.Decision(ctx, "c", "due"); d != nil {
		t.Errorf("due deferral still recorded: %v", d)
	}
	if d, _ := st.Decision(ctx, "c", "later"); d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED {
		t.Errorf("later deferral: %v", d)
	}
}

func TestResolveAndClaimNeverOverwriteATerminalDecision(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	deferralRecord(t, st, "c", "waiting", hushv1.Outcome_OUTCOME_DEFERRED, time.Now().Add(time.Hour))
	deferralRecord(t, st, "c", "sent", hushv1.Outcome_OUTCOME_APPROVED, time.Time{})
	cancel := &hushv1.Decision{IntentId: "x", Outcome: hushv1.Outcome_OUTCOME_SUPPRESSED}

	if err := st.Resolve(ctx, "c", "waiting", cancel, time.Hour); err != nil {
		t.Fatal(err)
	}
	if d, _ := st.Decision(ctx, "c", "waiting"); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
		t.Errorf("resolved deferral: %v", d)
	}
	if err := st.Resolve(ctx, "c", "sent", cancel, time.Hour); !errors.Is(err, store.ErrNotDeferred) {
		t.Errorf("Resolve of an approval: %v, want ErrNotDeferred", err)
	}
	if err := st.Resolve(ctx, "c", "lost-by-redis", cancel, time.Hour); err != nil {
		t.Errorf("Resolve without a record: %v; the schedule is the source of truth", err)
	}

	claim := &hushv1.Decision{IntentId: "x", Outcome: hushv1.Outcome_OUTCOME_INVALID}
	if got, err := st.Claim(ctx, "c", "sent", claim, time.Hour); err != nil || got.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Errorf("Claim of a decided intent = %v, %v; want its approval", got, err)
	}
	if got, err := st.Claim(ctx, "c", "undecided", claim, time.Hour); err != nil || got != nil {
		t.Errorf("Claim of an undecided intent = %v, %v; want nil (claimed)", got, err)
	}
	if d, _ := st.Decision(ctx, "c", "undecided"); d.GetOutcome() != hushv1.Outcome_OUTCOME_INVALID {
		t.Errorf("claimed record: %v", d)
	}
}
