package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// race decides the intents on the stores, each store (a replica on its own
// connection) taking every len(stores)-th intent, all at once; it returns
// the decisions by intent id.
func race(t *testing.T, stores []*store.Store, pol *policy.Policy, intents []*hushv1.ContactIntent, clock func(i int) time.Time) map[string]*hushv1.Decision {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*hushv1.Decision{}
	var wg sync.WaitGroup
	for w, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(intents); i += len(stores) {
				now := clock(i)
				res, err := st.DecideFresh(context.Background(), store.Fresh{Policy: pol, Now: func() time.Time { return now }}, intents[i], store.Seen{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				out[intents[i].GetId()] = res.Decision
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

const reservePolicy = "version: v\n" + categories + `
caps:
  - id: weekly
    scope: customer
    window: 7d
    max: 5
    classes: [service, marketing]
    reserve: { count: 2, for: high }
`

// TestReservedBudgetHoldsUnderRacingReplicas races 8 replicas on one
// customer whose weekly cap of 5 keeps its last 2 for priority high and
// above. Racing normal and low intents take exactly the 3 open slots (never
// one of the reserved); then, racing with high ones, only high ones take
// the last 2, and nothing exceeds the cap.
func TestReservedBudgetHoldsUnderRacingReplicas(t *testing.T) {
	r := testenv.StartRedis(t)
	stores := clients(t, r, 8)
	pol := parse(t, reservePolicy)
	const customer = "reserve-race"
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

	var first []*hushv1.ContactIntent
	for i := range 120 {
		it := intent(fmt.Sprintf("open-%03d", i), customer)
		it.Priority = []string{"low", "normal", ""}[i%3]
		first = append(first, it)
	}
	got := race(t, stores, pol, first, at)
	approved := outcomes(got, hushv1.Outcome_OUTCOME_APPROVED)
	if len(approved) != 3 {
		t.Fatalf("%d intents below priority high approved, want exactly the 3 open slots: %v", len(approved), approved)
	}
	for id, d := range got {
		if d.GetOutcome() == hushv1.Outcome_OUTCOME_SUPPRESSED && d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_RESERVED_BUDGET {
			t.Errorf("%s suppressed with %v, want reserved_budget", id, d.GetReasons())
		}
	}

	var second []*hushv1.ContactIntent
	for i := range 120 {
		it := intent(fmt.Sprintf("mixed-%03d", i), customer)
		it.Priority = []string{"low", "high", "normal", "urgent"}[i%4]
		second = append(second, it)
	}
	got = race(t, stores, pol, second, func(i int) time.Time { return at(200 + i) })
	approved = outcomes(got, hushv1.Outcome_OUTCOME_APPROVED)
	if len(approved) != 2 {
		t.Fatalf("%d approved in the reserved part, want exactly 2: %v", len(approved), approved)
	}
	for _, id := range approved {
		if p := got[id].GetPriority(); p != "high" && p != "urgent" {
			t.Errorf("%s of priority %q took a reserved slot", id, p)
		}
	}
	ledger, err := stores[0].Ledger(context.Background(), customer, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 5 {
		t.Errorf("ledger holds %d contacts, want the cap's 5", len(ledger))
	}
}

func outcomes(ds map[string]*hushv1.Decision, o hushv1.Outcome) []string {
	var ids []string
	for id, d := range ds {
		if d.GetOutcome() == o {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestReservedBudgetIsExplained: a normal intent refused the reserved part
// is told so, with its priority and the instant a slot opens to it; a high
// one still passes, and the decision names the category's priority.
func TestReservedBudgetIsExplained(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, reservePolicy)
	for i := range 3 {
		if d, _ := decide(t, st, pol, intent(fmt.Sprint("e-", i), "c"), t0.Add(time.Duration(i)*time.Hour)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("contact %d: %v", i, d.GetReasons())
		}
	}
	d, _ := decide(t, st, pol, intent("e-normal", "c"), t0.Add(3*time.Hour))
	want := "3 of 5 contacts in the last 7 days, and the other 2 are reserved for priority high and above; next allowed for priority normal 2026-11-30T12:00Z"
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_RESERVED_BUDGET ||
		d.GetReasons()[0].GetMessage() != want || d.GetPriority() != "normal" {
		t.Fatalf("decision %v, want reserved_budget: %q", d, want)
	}
	if !d.GetNextAllowedAt().AsTime().Equal(t0.Add(7 * 24 * time.Hour)) {
		t.Errorf("next allowed %v, want when the first contact slides out", d.GetNextAllowedAt().AsTime())
	}
	// Replayed, it says the same.
	if again, replayed := decide(t, st, pol, intent("e-normal", "c"), t0.Add(4*time.Hour)); !replayed || again.GetReasons()[0].GetMessage() != want {
		t.Errorf("replay %v %v", replayed, again.GetReasons())
	}
	high := intent("e-high", "c")
	high.Priority = "high"
	if d, _ := decide(t, st, pol, high, t0.Add(4*time.Hour)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED || d.GetPriority() != "high" {
		t.Errorf("high: %v", d)
	}
}

// TestCapDefersToTheInstantASlotFrees: a cap whose action is defer holds
// an intent until exactly when its window frees a slot, within the cap's
// maximum wait and the intent's deadline; past either it is suppressed.
func TestCapDefersToTheInstantASlotFrees(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+`
caps:
  - { id: hourly, scope: customer, window: 1h, max: 2, classes: [marketing], action: defer, max_wait: 45m }
`)
	for i, at := range []time.Duration{0, 10 * time.Minute} {
		if d, _ := decide(t, st, pol, intent(fmt.Sprint("d-", i), "c"), t0.Add(at)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("contact %d: %v", i, d.GetReasons())
		}
	}
	slot := t0.Add(time.Hour)
	d, _ := decide(t, st, pol, intent("d-wait", "c"), t0.Add(20*time.Minute))
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED || !d.GetReleaseAt().AsTime().Equal(slot) || !d.GetNextAllowedAt().AsTime().Equal(slot) {
		t.Fatalf("decision %v, want deferred to %v", d, slot)
	}
	if r := d.GetReasons()[0]; r.GetCode() != hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP || r.GetRule() != "cap.hourly" ||
		r.GetMessage() != "2 of 2 contacts in the last 1 hour; deferred to 2026-11-23T13:00Z, when a slot frees" {
		t.Errorf("reason %v", r)
	}
	if ledger, _ := st.Ledger(context.Background(), "c", t0.Add(-time.Hour)); len(ledger) != 2 {
		t.Errorf("a deferral was counted: %v", ledger)
	}

	late := intent("d-deadline", "c")
	late.NotAfter = timestamppb.New(slot.Add(-time.Millisecond))
	d, _ = decide(t, st, pol, late, t0.Add(20*time.Minute))
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_CAP_WAIT_EXCEEDED ||
		d.GetReasons()[0].GetMessage() != "2 of 2 contacts in the last 1 hour; next allowed 2026-11-23T13:00Z, after the intent's deadline" {
		t.Errorf("deadline before the slot: %v", d)
	}
	old := intent("d-old", "c")
	old.CreatedAt = timestamppb.New(t0)
	d, _ = decide(t, st, pol, old, t0.Add(16*time.Minute)) // waiting since t0, the slot is 60m away: past 45m
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_CAP_WAIT_EXCEEDED ||
		d.GetReasons()[0].GetMessage() != "2 of 2 contacts in the last 1 hour; next allowed 2026-11-23T13:00Z, beyond the cap's maximum wait of 45 minutes" {
		t.Errorf("wait beyond max_wait: %v", d)
	}
}

// TestArbitrationDecidesInRankOrderAcrossReplicas sends a burst of intents
// of one customer, in shuffled order, to 8 replicas at once; the cap has 2
// slots. Whichever replica takes which intent, the 2 highest priorities
// take them (the older of equals first), and every other intent is told
// what it lost to. Repeated, the result is always the same.
func TestArbitrationDecidesInRankOrderAcrossReplicas(t *testing.T) {
	r := testenv.StartRedis(t)
	stores := clients(t, r, 8)
	pol := parse(t, "version: v\n"+categories+`
arbitration: { window: 200ms }
caps:
  - { id: daily, scope: customer, window: 24h, max: 2, classes: [service, marketing] }
`)
	base := time.Now().Add(-time.Minute)
	type contender struct {
		id, priority string
		age          time.Duration // created this long after base
	}
	all := []contender{
		{"a-low", "low", 0}, {"b-normal-new", "normal", 3 * time.Second}, {"c-high-new", "high", 2 * time.Second},
		{"d-normal-old", "normal", time.Second}, {"e-high-old", "high", time.Second}, {"f-low", "low", 5 * time.Second},
		{"g-normal", "", 4 * time.Second}, {"h-high-newest", "high", 6 * time.Second},
	}
	for round := range 3 {
		customer := fmt.Sprint("arb-", round)
		intents := make([]*hushv1.ContactIntent, len(all))
		for i, c := range all {
			it := intent(c.id, customer)
			it.Priority, it.CreatedAt = c.priority, timestamppb.New(base.Add(c.age))
			intents[i] = it
		}
		rand.Shuffle(len(intents), func(i, j int) { intents[i], intents[j] = intents[j], intents[i] })
		var mu sync.Mutex
		got := map[string]*hushv1.Decision{}
		var wg sync.WaitGroup
		for i, it := range intents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := stores[i].DecideFresh(context.Background(), store.Fresh{Policy: pol}, it, store.Seen{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[it.GetId()] = res.Decision
				mu.Unlock()
			}()
		}
		wg.Wait()
		if won := outcomes(got, hushv1.Outcome_OUTCOME_APPROVED); !slices.Equal(won, []string{"c-high-new", "e-high-old"}) {
			t.Fatalf("round %d: approved %v, want the two high ones", round, won)
		}
		for id, d := range got {
			if d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
				continue
			}
			want := "lost to a priority-high marketing contact: 2 of 2 contacts in the last 1 day; next allowed "
			if r := d.GetReasons()[0]; r.GetCode() != hushv1.ReasonCode_REASON_CODE_LOST_ARBITRATION || len(r.GetMessage()) < len(want) || r.GetMessage()[:len(want)] != want {
				t.Errorf("round %d: %s: %v, want lost_arbitration %q…", round, id, r, want)
			}
		}
		if n := r.Client.ZCard(context.Background(), stores[0].ArbitrationKey(customer)).Val(); n != 0 {
			t.Errorf("round %d: %d competitors left in the arbitration", round, n)
		}
	}
	// A redelivered competitor replays its decision and leaves the
	// arbitration at once: it holds no place that would delay the others.
	again := intent("c-high-new", "arb-0")
	again.Priority = "high"
	res, err := stores[0].DecideFresh(context.Background(), store.Fresh{Policy: pol}, again, store.Seen{})
	if err != nil || !res.Replayed || res.Decision.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("replay %+v, %v", res, err)
	}
	if n := r.Client.ZCard(context.Background(), stores[0].ArbitrationKey("arb-0")).Val(); n != 0 {
		t.Errorf("a replayed competitor left %d places in the arbitration", n)
	}
}

// TestWorkedExampleOfPolicyDoc follows "Keeping the last slots for what
// matters" in docs/policy.md: with 2 contacts in the window, a support
// contact (high) and a marketing one (normal) arriving together are decided
// support first; it takes the last slot open to normal, and the marketing
// intent, which lost it, waits for the next slot.
func TestWorkedExampleOfPolicyDoc(t *testing.T) {
	r := testenv.StartRedis(t)
	stores := clients(t, r, 2)
	pol := parse(t, `version: priorities-1
categories:
  marketing: { class: marketing }
  survey:    { class: marketing, priority: low }
  support:   { class: service, priority: high }
arbitration: { window: 150ms }
caps:
  - id: weekly
    scope: customer
    window: 7d
    max: 5
    classes: [service, marketing]
    reserve: { count: 2, for: high }
    action: defer
`)
	monday := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range 2 {
		if d, _ := decide(t, stores[0], pol, intent(fmt.Sprint("monday-", i), "c"), monday.Add(time.Duration(i)*time.Hour)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("monday %d: %v", i, d.GetReasons())
		}
	}
	tuesday := monday.Add(24 * time.Hour)
	support, marketing := intent("support", "c"), intent("marketing", "c")
	support.Category = "support"
	got := race(t, stores, pol, []*hushv1.ContactIntent{support, marketing}, func(int) time.Time { return tuesday })
	if d := got["support"]; d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED || d.GetPriority() != "high" {
		t.Fatalf("support: %v", d)
	}
	d := got["marketing"]
	want := "lost to a priority-high service contact: 3 of 5 contacts in the last 7 days; deferred to 2026-11-30T12:00Z, when a slot frees"
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_LOST_ARBITRATION ||
		d.GetReasons()[0].GetMessage() != want || !d.GetReleaseAt().AsTime().Equal(monday.Add(7*24*time.Hour)) {
		t.Fatalf("marketing: %v, want deferred: %q", d, want)
	}
	survey := intent("survey", "c")
	survey.Category, survey.NotAfter = "survey", timestamppb.New(tuesday.Add(24*time.Hour))
	if d, _ := decide(t, stores[0], pol, survey, tuesday.Add(time.Hour)); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED ||
		d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_CAP_WAIT_EXCEEDED {
		t.Errorf("survey with a deadline before the next slot: %v", d)
	}
}
