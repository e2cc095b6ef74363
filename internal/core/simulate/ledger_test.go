package simulate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/simulate"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestMemoryLedgerDecidesAsTheRedisLedger decides the same sequence of
// intents (three customers, every scope of cap, one cap in shadow mode, ten
// days at uneven steps) with the store's decision script on a real Redis
// and with the simulation's in-memory ledger: every outcome, reason and
// shadow reason must be the same.
func TestMemoryLedgerDecidesAsTheRedisLedger(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	_, yaml := testenv.DaytimeDefaultPolicy(t)
	// The sender cap in shadow mode: its hits become shadow reasons.
	text := strings.Replace(string(yaml), "  - id: sender-daily\n", "  - id: sender-daily\n    mode: shadow\n", 1)
	if text == string(yaml) {
		t.Fatal("the default policy no longer has a sender-daily cap")
	}
	pol, err := policy.Parse("ledger-test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	mem := simulate.NewLedger(pol.LedgerRetention)
	rng := rand.New(rand.NewPCG(15, 15))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var approved, suppressed, shadowed int
	for i := range 600 {
		now = now.Add(time.Duration(rng.IntN(4*3600)) * time.Second)
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("i-%04d", i), CustomerId: pick("a", "b", "c"),
			Channel: pick("email", "sms", "push"), Category: pick("marketing", "survey", "service", "support", "transactional"),
			Topic: pick("", "newsletter", "nps"), Sender: &hushv1.Sender{Service: pick("campaigns", "care")}}
		v := pol.Evaluate(policy.Input{Intent: it, Now: now})
		d := pol.Decision(it, &v, now, "")
		res, err := st.Decide(context.Background(), store.DecideRequest{Intent: it, Now: now, Verdict: &v, Decision: d,
			DecisionRetention: pol.DecisionRetention, LedgerRetention: pol.LedgerRetention})
		if err != nil {
			t.Fatal(err)
		}
		got := mem.Decide(it, &v, now)
		want := res.Decision
		if got.Outcome != want.GetOutcome() {
			t.Fatalf("%s at %s: memory %s, redis %s (%v)", it.GetId(), now, got.Outcome, want.GetOutcome(), want.GetReasons())
		}
		if got.Outcome != hushv1.Outcome_OUTCOME_APPROVED {
			w := want.GetReasons()[0]
			if got.Reason.Rule != w.GetRule() || got.Reason.Code != w.GetCode() || got.Reason.Message != w.GetMessage() {
				t.Fatalf("%s: memory reason %+v, redis %v", it.GetId(), got.Reason, w)
			}
		}
		if len(got.Shadow) != len(want.GetShadowReasons()) {
			t.Fatalf("%s: memory shadow %v, redis %v", it.GetId(), got.Shadow, want.GetShadowReasons())
		}
		for j, s := range want.GetShadowReasons() {
			if got.Shadow[j].Rule != s.GetRule() || got.Shadow[j].Message != s.GetMessage() {
				t.Fatalf("%s: memory shadow %v, redis %v", it.GetId(), got.Shadow, want.GetShadowReasons())
			}
		}
		switch {
		case got.Outcome == hushv1.Outcome_OUTCOME_APPROVED:
			approved++
		default:
			suppressed++
		}
		for _, s := range got.Shadow {
			if strings.HasPrefix(s.Rule, "cap.") {
				shadowed++
			}
		}
	}
	// The sequence must exercise both sides of the caps.
	if approved < 50 || suppressed < 50 || shadowed == 0 {
		t.Errorf("approved %d, suppressed %d, shadow cap hits %d: the sequence does not test the caps", approved, suppressed, shadowed)
	}
	t.Logf("approved %d, suppressed %d, shadow cap hits %d", approved, suppressed, shadowed)
}
