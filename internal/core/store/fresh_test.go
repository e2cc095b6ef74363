package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestDecideFreshEvaluatesAgainWithCurrentPreferences: a decision made with
// stale preferences is refused by the store and made again with the
// current ones; the hooks see each attempt.
func TestDecideFreshEvaluatesAgainWithCurrentPreferences(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	pol := parse(t, "version: v\n"+categories)
	if _, _, err := st.SetPreferences(ctx, "c", &hushv1.Preferences{OptedOutChannels: []string{"email"}}, nil); err != nil {
		t.Fatal(err)
	}
	var before, stale, abandoned int
	var seen store.Seen
	f := store.Fresh{
		Policy: pol, Now: func() time.Time { return t0 }, TraceID: "trace-1",
		Before:  func(context.Context, *policy.Verdict, time.Time) error { before++; return nil },
		Abandon: func(context.Context) { abandoned++ },
		Stale:   func(s store.Seen) { stale++; seen = s },
	}
	res, err := st.DecideFresh(ctx, f, intent("i-1", "c"), store.Seen{})
	if err != nil || res.Decision.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || res.Decision.GetReasons()[0].GetRule() != policy.RuleOptOut {
		t.Fatalf("decision %v, %v; want suppressed by %s", res.Decision, err, policy.RuleOptOut)
	}
	if res.Decision.GetTraceId() != "trace-1" || res.Decision.GetPolicyVersion() != "v" || res.Decision.GetChannel() != "email" {
		t.Errorf("decision %v: want the trace id, the policy version and the channel", res.Decision)
	}
	if before != 2 || stale != 1 || abandoned != 0 || seen.PrefsVersion != 1 || seen.Prefs == nil {
		t.Errorf("before %d, stale %d (saw %+v), abandoned %d; want 2, 1 (version 1), 0", before, stale, seen, abandoned)
	}

	f.Before = func(context.Context, *policy.Verdict, time.Time) error { return errors.New("no budget") }
	if _, err := st.DecideFresh(ctx, f, intent("i-2", "c"), seen); err == nil {
		t.Fatal("an error before recording must end the decision")
	}
	if d, err := st.Decision(ctx, "c", "i-2"); err != nil || d != nil {
		t.Errorf("recorded %v, %v; want nothing", d, err)
	}
}
