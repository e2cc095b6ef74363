package store_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestDecisionRecordsAreOneHashPerCustomerAndKeptForTheRetention holds the
// compact record layout to the idempotency invariant: a customer's decisions
// share one hash, a replay gives back exactly the decision that was made
// (intent and customer ids, which the record leaves out, included), records
// still within the retention are replayed whatever else the customer's
// writes remove, and records past it are removed by a later write.
func TestDecisionRecordsAreOneHashPerCustomerAndKeptForTheRetention(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	pol := parse(t, "version: v\n"+categories+"decision_retention: 8h\ncaps:\n  - { id: c, scope: topic, window: 1h, max: 1, classes: [marketing] }\n")
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	first, _ := decide(t, st, pol, intent("rec-a", "rc"), t0)
	capped, _ := decide(t, st, pol, intent("rec-b", "rc"), t0.Add(time.Minute))
	if len(capped.GetReasons()) == 0 || capped.GetReasons()[0].GetRule() != "cap.c" {
		t.Fatalf("second contact on the topic: %v, want suppressed by cap c", capped)
	}
	if n := r.Client.HLen(ctx, st.DecisionsKey("rc")).Val(); n != 3 {
		t.Errorf("decisions hash holds %d fields, want the 2 records and the hash's expiry", n)
	}
	for _, c := range []struct {
		id   string
		want proto.Message
	}{{"rec-a", first}, {"rec-b", capped}} {
		got, replayed := decide(t, st, pol, intent(c.id, "rc"), t0.Add(2*time.Hour))
		if !replayed || !proto.Equal(got, c.want) {
			t.Errorf("replay of %s: replayed %v, %v; want exactly %v", c.id, replayed, got, c.want)
		}
		rec, err := st.Decision(ctx, "rc", c.id)
		if err != nil || !proto.Equal(rec, c.want) {
			t.Errorf("Decision(%s) = %v (%v), want %v", c.id, rec, err, c.want)
		}
	}

	// 3h later the next write outlives the hash's recorded life (8h and an
	// eighth) and clears what has expired: nothing has, so far.
	decide(t, st, pol, intent("rec-c", "rc"), t0.Add(3*time.Hour))
	if got, replayed := decide(t, st, pol, intent("rec-a", "rc"), t0.Add(7*time.Hour)); !replayed || !proto.Equal(got, first) {
		t.Errorf("replay of rec-a within the retention, after a clean-up: replayed %v, %v", replayed, got)
	}

	// Past rec-a's and rec-b's retention, the next clean-up removes them;
	// rec-c stays.
	decide(t, st, pol, intent("rec-d", "rc"), t0.Add(9*time.Hour))
	if n := r.Client.HLen(ctx, st.DecisionsKey("rc")).Val(); n != 3 {
		t.Errorf("decisions hash holds %d fields after the clean-up, want rec-c, rec-d and the hash's expiry", n)
	}
	if rec, _ := st.Decision(ctx, "rc", "rec-a"); rec != nil {
		t.Errorf("rec-a past its retention is still recorded: %v", rec)
	}
	if _, replayed := decide(t, st, pol, intent("rec-c", "rc"), t0.Add(9*time.Hour)); !replayed {
		t.Error("rec-c, within its retention, was decided again")
	}
	ttl := r.Client.PTTL(ctx, st.DecisionsKey("rc")).Val()
	if most := 8*time.Hour + time.Hour + 2*time.Second; ttl <= 0 || ttl > most {
		t.Errorf("decisions hash TTL %v, want at most the retention and an eighth (%v)", ttl, most)
	}
}

// TestDecisionsRecordedBeforeTheHashAreStillReplayed: a record written as a
// key of its own, as before records were one hash per customer, is read,
// replayed (never decided again) and moved into the hash with the life it
// had left, so that an upgrade keeps every intent's one outcome.
func TestDecisionsRecordedBeforeTheHashAreStillReplayed(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	pol := parse(t, "version: v\n"+categories)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	old := &hushv1.Decision{IntentId: "leg-1", CustomerId: "lc", Channel: "email", Category: "marketing",
		Outcome: hushv1.Outcome_OUTCOME_SUPPRESSED, PolicyVersion: "old",
		Reasons: []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT, Rule: "opt-out", Message: "opted out"}}}
	blob, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	legacy := r.Prefix + ":{c:lc}:d:leg-1"
	if err := r.Client.Set(ctx, legacy, "\x1csrc/7\x1c\x1e"+string(blob), 2*time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Decision(ctx, "lc", "leg-1"); err != nil || !proto.Equal(got, old) {
		t.Fatalf("Decision of a record from before the hash: %v (%v), want %v", got, err, old)
	}
	if src, err := st.DecisionSource(ctx, "lc", "leg-1"); err != nil || src != "src/7" {
		t.Errorf("DecisionSource = %q (%v), want src/7", src, err)
	}
	got, replayed := decide(t, st, pol, intent("leg-1", "lc"), now)
	if !replayed || !proto.Equal(got, old) {
		t.Fatalf("decide: replayed %v, %v; want the recorded %v", replayed, got, old)
	}
	if n := r.Client.Exists(ctx, legacy).Val(); n != 0 {
		t.Error("the record's own key is still there after the decide script read it")
	}
	if got, replayed := decide(t, st, pol, intent("leg-1", "lc"), now.Add(time.Minute)); !replayed || !proto.Equal(got, old) {
		t.Errorf("decide again, from the hash: replayed %v, %v", replayed, got)
	}
	// A deferral from before the hash can still be released.
	deferred := &hushv1.Decision{Outcome: hushv1.Outcome_OUTCOME_DEFERRED, ReleaseAt: timestamppb.New(now)}
	blob, _ = proto.Marshal(deferred)
	if err := r.Client.Set(ctx, r.Prefix+":{c:lc}:d:leg-2", "\x1e"+string(blob), 2*time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Reopen(ctx, "lc", "leg-2", now, time.Second); !ok || err != nil {
		t.Fatalf("Reopen of a deferral from before the hash: %v, %v", ok, err)
	}
	if d, replayed := decide(t, st, pol, intent("leg-2", "lc"), now); replayed || d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Errorf("released deferral: replayed %v, %v; want decided again", replayed, d.GetOutcome())
	}
}
