package store_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
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
