package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const checkPolicy = "version: check-1\n" + categories + `
caps:
  - { id: daily, scope: customer, window: 24h, max: 3, classes: [service, marketing] }
  - { id: news-cooldown, scope: topic, window: 6h, max: 1, classes: [marketing] }
quiet_hours:
  classes: [marketing]
  action: defer
  quiet: ["21:00-08:00"]
unsolicited:
  customer: { window: 14d, max: 1 }
  agent: { window: 24h, max: 1 }
`

// check asks the store about one intent at now.
func check(t testing.TB, st *store.Store, pol *policy.Policy, now time.Time, its ...*hushv1.ContactIntent) []*hushv1.CheckAnswer {
	t.Helper()
	as, err := st.Check(context.Background(), store.CheckOptions{Policy: pol, Now: func() time.Time { return now }}, its)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(its) {
		t.Fatalf("%d answers for %d intents", len(as), len(its))
	}
	return as
}

// sameAnswer compares a check's answer with the gate's decision: the same
// outcome, reasons (code, rule and sentence) and next allowed instant.
func sameAnswer(t *testing.T, what string, a *hushv1.CheckAnswer, d *hushv1.Decision) {
	t.Helper()
	want := store.Answer(d)
	if !proto.Equal(a, want) {
		t.Errorf("%s: check answered %v\n  the gate decided   %v", what, store.ShortAnswer(a), store.ShortAnswer(want))
	}
}

// TestCheckAnswersWhatTheGateDecides drives random intents (categories,
// topics, agents, replies, times of day) at a few customers through the
// gate's decision path, and before each one asks the check about the same
// intent in the same state. Every answer must equal the decision the gate
// then makes, and the check must leave no trace: it counts nothing,
// reserves nothing and records nothing.
func TestCheckAnswersWhatTheGateDecides(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, checkPolicy)
	ctx := context.Background()
	if _, _, err := st.SetPreferences(ctx, "opted-out", &hushv1.Preferences{CustomerId: "opted-out", OptedOutChannels: []string{"email"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.SetPreferences(ctx, "c2", &hushv1.Preferences{CustomerId: "c2", MaxFrequency: &hushv1.MaxFrequency{Count: 2, Window: durationpb.New(24 * time.Hour)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.OpenReplyWindow(ctx, "c0", "email", "thread-1", t0.Add(48*time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	seen := map[hushv1.Outcome]int{}
	reasons := map[hushv1.ReasonCode]int{}
	var withNext int
	now := t0
	for i := range 400 {
		now = now.Add(time.Duration(rng.IntN(90)) * time.Minute)
		it := intent("g-"+strconv.Itoa(i), pick("c0", "c1", "c2", "c3", "c4", "c5", "opted-out"))
		it.Category = pick("marketing", "marketing", "service", "transactional", "critical")
		it.Topic = pick("news", "offers", "billing")
		if rng.IntN(4) == 0 {
			it.Initiator, it.Sender.AgentId, it.Purpose = "agent", pick("ann", "bob"), "follow-up"
			it.InReplyTo = pick("", "thread-1")
		}
		if rng.IntN(10) == 0 && i > 0 {
			it.Id = "g-" + strconv.Itoa(rng.IntN(i)) // a republish: replayed
			it.CustomerId = "c0"
		}
		ledgerBefore, _ := st.Ledger(ctx, it.GetCustomerId(), now.Add(-30*24*time.Hour))
		a := check(t, st, pol, now, it)[0]
		if again := check(t, st, pol, now, it)[0]; !proto.Equal(a, again) {
			t.Fatalf("intent %d: a second check answered %v, the first %v: the check changed something", i, again, a)
		}
		if ledgerAfter, _ := st.Ledger(ctx, it.GetCustomerId(), now.Add(-30*24*time.Hour)); len(ledgerAfter) != len(ledgerBefore) {
			t.Fatalf("intent %d: the check counted a contact (%d → %d)", i, len(ledgerBefore), len(ledgerAfter))
		}
		d := decideWithAgents(t, st, pol, it, now)
		sameAnswer(t, fmt.Sprintf("intent %d (%s %s %s %s)", i, it.GetCustomerId(), it.GetCategory(), it.GetTopic(), it.GetInitiator()), a, d)
		seen[d.GetOutcome()]++
		for _, r := range d.GetReasons() {
			reasons[r.GetCode()]++
		}
		if a.GetNextAllowedAt() != nil {
			withNext++
		}
	}
	// The walk must have met the cases it is about.
	for _, o := range []hushv1.Outcome{hushv1.Outcome_OUTCOME_APPROVED, hushv1.Outcome_OUTCOME_SUPPRESSED, hushv1.Outcome_OUTCOME_DEFERRED} {
		if seen[o] == 0 {
			t.Errorf("no %v among the decisions: %v", o, seen)
		}
	}
	for _, c := range []hushv1.ReasonCode{hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, hushv1.ReasonCode_REASON_CODE_OPTED_OUT,
		hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY, hushv1.ReasonCode_REASON_CODE_UNSOLICITED_CAP, hushv1.ReasonCode_REASON_CODE_AGENT_CAP} {
		if reasons[c] == 0 {
			t.Errorf("no %v among the decisions: %v", c, reasons)
		}
	}
	if withNext == 0 {
		t.Error("no answer said when the intent could pass")
	}
}

// decideWithAgents is the gatekeeper's decision path with the agent's
// budget (gatekeeper/agent.go): reserve a unit before the decision,
// confirm it when approved, release it otherwise.
func decideWithAgents(t testing.TB, st *store.Store, pol *policy.Policy, it *hushv1.ContactIntent, now time.Time) *hushv1.Decision {
	t.Helper()
	ctx := context.Background()
	agent := ""
	res, err := st.DecideFresh(ctx, store.Fresh{Policy: pol, Now: func() time.Time { return now },
		Before: func(ctx context.Context, v *policy.Verdict, now time.Time) error {
			if !v.Approved() || v.Agent.Agent == "" {
				return nil
			}
			r, err := st.ReserveAgent(ctx, store.AgentReservation{Check: v.Agent, IntentID: it.GetId(), Now: now})
			if r.Reserved {
				agent = v.Agent.Agent
			}
			r.ApplyTo(v, v.Agent)
			return err
		}}, it, store.Seen{})
	if err != nil {
		t.Fatal(err)
	}
	if agent != "" {
		if err := st.SettleAgent(ctx, agent, it.GetId(), res.Decision.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED); err != nil {
			t.Fatal(err)
		}
	}
	return res.Decision
}

// TestCapSuppressionSaysWhenTheNextContactIsAllowed: a suppression by a
// cap carries next_allowed_at, the instant the oldest contact keeping the
// window full slides out, and the same intent then passes.
func TestCapSuppressionSaysWhenTheNextContactIsAllowed(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"caps:\n  - { id: weekly, scope: category, window: 7d, max: 2, classes: [marketing] }\n")
	for i, at := range []time.Duration{0, time.Hour} {
		if d, _ := decide(t, st, pol, intent(fmt.Sprint("n-", i), "c"), t0.Add(at)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("contact %d: %v", i, d.GetReasons())
		}
	}
	d, _ := decide(t, st, pol, intent("n-full", "c"), t0.Add(2*time.Hour))
	next := t0.Add(7 * 24 * time.Hour)
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetNextAllowedAt() == nil || !d.GetNextAllowedAt().AsTime().Equal(next) {
		t.Fatalf("decision %v, want suppressed with next_allowed_at %v", d, next)
	}
	if rec, err := st.Decision(context.Background(), "c", "n-full"); err != nil || !proto.Equal(rec, d) {
		t.Errorf("recorded %v (%v), want the decision with its next_allowed_at", rec, err)
	}
	if a := check(t, st, pol, next.Add(-time.Millisecond), intent("n-try", "c"))[0]; !a.GetNextAllowedAt().AsTime().Equal(next) {
		t.Errorf("a check just before: %v", store.ShortAnswer(a))
	}
	if a := check(t, st, pol, next, intent("n-try", "c"))[0]; a.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED || a.GetNextAllowedAt() != nil {
		t.Errorf("a check at next_allowed_at: %v, want approved", store.ShortAnswer(a))
	}
}

// TestCheckAnswersInvalidIntentsInPlace: an intent the gate would
// dead-letter gets an invalid answer saying why, in its place in the batch.
func TestCheckAnswersInvalidIntentsInPlace(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, checkPolicy)
	bad := intent("bad", "c")
	bad.Category = "no-such-category"
	as := check(t, st, pol, t0, intent("ok-1", "c"), bad, intent("ok-2", "d"))
	if as[1].GetOutcome() != hushv1.Outcome_OUTCOME_INVALID || as[1].GetError() == "" || as[1].GetIntentId() != "bad" {
		t.Errorf("invalid intent answered %v", as[1])
	}
	for _, i := range []int{0, 2} {
		if as[i].GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Errorf("answer %d: %v", i, store.ShortAnswer(as[i]))
		}
	}
}

// BenchmarkCheck100k answers one batch of 100,000 intents, one per
// customer, half of whom have contacts in their ledgers and preferences
// recorded, against a real redis-server with the AOF on. Report the
// seconds per batch (sec/op) in docs/producers.md.
func BenchmarkCheck100k(b *testing.B) {
	const n = 100_000
	r := testenv.StartRedis(b, testenv.RedisOptions{AppendOnly: true, Private: true})
	st := store.New(r.Client, r.Prefix)
	pol := parse(b, checkPolicy)
	ctx := context.Background()
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	// Half the customers have preferences and two contacts already.
	pipe := r.Client.Pipeline()
	for c := 0; c < n; c += 2 {
		cust := "b-" + strconv.Itoa(c)
		pipe.HSet(ctx, st.PrefsKey(cust), "v", "1", "p", "")
		for k := range 2 {
			it := intent(fmt.Sprintf("seed-%d-%d", c, k), cust)
			pipe.ZAdd(ctx, st.LedgerKey(cust), redisZ(noon.Add(-time.Duration(k+1)*time.Hour), store.LedgerMember(it)))
		}
		if pipe.Len() > 5000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	its := make([]*hushv1.ContactIntent, n)
	for i := range its {
		its[i] = intent("campaign-"+strconv.Itoa(i), "b-"+strconv.Itoa(i))
		its[i].Category = "service"
	}
	opts := store.CheckOptions{Policy: pol, Now: func() time.Time { return noon }}
	// CPU seconds, the client's and Redis's, say what a batch costs
	// whatever else the machine runs; wall time says what it took.
	redisCPU := func() float64 {
		var sum float64
		for _, l := range strings.Split(r.Client.Info(ctx, "cpu").Val(), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
		return sum
	}
	selfCPU := func() float64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	redis0, self0 := redisCPU(), selfCPU()
	b.ResetTimer()
	for b.Loop() {
		as, err := st.Check(ctx, opts, its)
		if err != nil {
			b.Fatal(err)
		}
		if as[n-1].GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			b.Fatalf("last answer %v", store.ShortAnswer(as[n-1]))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/intent")
	b.ReportMetric((redisCPU()-redis0)/float64(b.N), "redis-cpu-s/op")
	b.ReportMetric((selfCPU()-self0)/float64(b.N), "client-cpu-s/op")
}

func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(at.UnixMilli()), Member: member}
}
