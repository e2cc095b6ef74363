package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const categories = `
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
producers:
  campaigns: { categories: [critical, transactional] }
`

func parse(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func intent(id, customer string) *hushv1.ContactIntent {
	return &hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: "email", Category: "marketing", Topic: "news",
		Sender: &hushv1.Sender{Service: "campaigns"}}
}

// decide is the gatekeeper's loop without the bus: evaluate, record, and
// evaluate again when the store says what the rules saw was stale.
func decide(t testing.TB, st *store.Store, pol *policy.Policy, it *hushv1.ContactIntent, now time.Time) (*hushv1.Decision, bool) {
	t.Helper()
	d, replayed, err := tryDecide(st, pol, it, now, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d, replayed
}

func tryDecide(st *store.Store, pol *policy.Policy, it *hushv1.ContactIntent, now time.Time, prefs *hushv1.Preferences, version uint64) (*hushv1.Decision, bool, error) {
	res, err := st.DecideFresh(context.Background(), store.Fresh{Policy: pol, Now: func() time.Time { return now }}, it,
		store.Seen{Prefs: prefs, PrefsVersion: version})
	return res.Decision, res.Replayed, err
}

// clients opens n separate connections to the test's Redis, each with its
// own store, as n gatekeeper replicas would.
func clients(t testing.TB, r *testenv.Redis, n int) []*store.Store {
	t.Helper()
	out := make([]*store.Store, n)
	for i := range out {
		c := redis.NewClient(&redis.Options{Addr: r.Client.Options().Addr, PoolSize: 4})
		t.Cleanup(func() { c.Close() })
		out[i] = store.New(c, r.Prefix)
	}
	return out
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestEachCapScopeHoldsUnderConcurrency races 16 replicas, each on its own
// connection, over one customer for every scope a cap can have. Exactly max
// intents are approved and counted, and an intent outside the scope is
// still approved afterwards.
func TestEachCapScopeHoldsUnderConcurrency(t *testing.T) {
	r := testenv.StartRedis(t)
	stores := clients(t, r, 16)
	cases := []struct {
		scope   string
		policy  string
		prefs   *hushv1.Preferences
		mutate  func(*hushv1.ContactIntent) // shape of the racing intents
		outside func(*hushv1.ContactIntent) // an intent the cap does not count
		max     int
	}{
		{scope: "customer", policy: "caps:\n  - { id: c, scope: customer, window: 1h, max: 3, classes: [marketing] }\n",
			outside: func(it *hushv1.ContactIntent) { it.Category = "service" }, max: 3},
		{scope: "channel", policy: "caps:\n  - { id: c, scope: channel, window: 1h, max: 4, classes: [marketing] }\n",
			outside: func(it *hushv1.ContactIntent) { it.Channel = "sms" }, max: 4},
		{scope: "category", policy: "caps:\n  - { id: c, scope: category, window: 1h, max: 2, classes: [marketing, service] }\n",
			outside: func(it *hushv1.ContactIntent) { it.Category = "service" }, max: 2},
		{scope: "topic", policy: "caps:\n  - { id: c, scope: topic, window: 1h, max: 1, classes: [marketing] }\n",
			outside: func(it *hushv1.ContactIntent) { it.Topic = "other" }, max: 1},
		{scope: "sender", policy: "caps:\n  - { id: c, scope: sender, window: 1h, max: 5, classes: [marketing] }\n",
			outside: func(it *hushv1.ContactIntent) { it.Sender.Service = "billing" }, max: 5},
		{scope: "customer_frequency", policy: "",
			prefs:   &hushv1.Preferences{MaxFrequency: &hushv1.MaxFrequency{Count: 2, Window: durationpb.New(time.Hour)}},
			outside: func(it *hushv1.ContactIntent) { it.Category = "transactional" }, max: 2},
		{scope: "unsolicited", policy: "unsolicited:\n  customer: { window: 14d, max: 1 }\n  agent: { window: 24h, max: 1000 }\n",
			mutate: func(it *hushv1.ContactIntent) {
				it.Initiator, it.Purpose, it.Sender.AgentId = "agent", "renewal", "a-1"
			},
			outside: func(it *hushv1.ContactIntent) {}, max: 1},
	}
	for _, c := range cases {
		t.Run(c.scope, func(t *testing.T) {
			pol := parse(t, "version: v\n"+categories+c.policy)
			customer := "hot-" + c.scope
			var version uint64
			if c.prefs != nil {
				v, _, err := stores[0].SetPreferences(context.Background(), customer, c.prefs, nil)
				if err != nil {
					t.Fatal(err)
				}
				version = v
			}
			const intents = 200
			var approved atomic.Int32
			var wg sync.WaitGroup
			for w, st := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < intents; i += len(stores) {
						it := intent(fmt.Sprintf("%s-%03d", c.scope, i), customer)
						if c.mutate != nil {
							c.mutate(it)
						}
						// Every replica decides at its own instant within the window.
						d, _, err := tryDecide(st, pol, it, t0.Add(time.Duration(i)*time.Millisecond), c.prefs, version)
						if err != nil {
							t.Error(err)
							return
						}
						if d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
							approved.Add(1)
						} else if code := d.GetReasons()[0].GetCode(); code != hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP &&
							code != hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY && code != hushv1.ReasonCode_REASON_CODE_UNSOLICITED_CAP {
							t.Errorf("suppressed with %v", d.GetReasons())
						}
					}
				}()
			}
			wg.Wait()
			if got := int(approved.Load()); got != c.max {
				t.Fatalf("approved %d of %d racing intents, want exactly %d", got, intents, c.max)
			}
			ledger, err := stores[0].Ledger(context.Background(), customer, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(ledger) != c.max {
				t.Fatalf("ledger holds %d contacts, want %d", len(ledger), c.max)
			}
			it := intent("outside-"+c.scope, customer)
			if c.mutate != nil {
				c.mutate(it)
			}
			c.outside(it)
			if c.scope == "unsolicited" {
				it.InReplyTo = "thread-1" // a reply is not unsolicited
				if _, err := stores[0].OpenReplyWindow(context.Background(), customer, "email", "thread-1", t0.Add(time.Hour), t0); err != nil {
					t.Fatal(err)
				}
			}
			d, _, err := tryDecide(stores[1], pol, it, t0.Add(time.Second), c.prefs, version)
			if err != nil {
				t.Fatal(err)
			}
			if d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
				t.Errorf("an intent outside the cap's scope was %v: %v", d.GetOutcome(), d.GetReasons())
			}
		})
	}
}

// TestCapWindowSlidesToTheMillisecond checks the rolling window at its
// edge: one ms before the oldest contact slides out the cap holds, with
// the time it opens again; at that ms it opens.
func TestCapWindowSlidesToTheMillisecond(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"caps:\n  - { id: weekly, scope: category, window: 7d, max: 3, classes: [marketing] }\n")
	for i, at := range []time.Duration{0, time.Hour, 2 * time.Hour} {
		if d, _ := decide(t, st, pol, intent(fmt.Sprint("w-", i), "c"), t0.Add(at)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("contact %d: %v", i, d.GetReasons())
		}
	}
	opens := t0.Add(7 * 24 * time.Hour)
	d, _ := decide(t, st, pol, intent("w-edge", "c"), opens.Add(-time.Millisecond))
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
		t.Fatalf("one ms before the window slides: %v, want suppressed", d.GetOutcome())
	}
	want := "3 of 3 marketing contacts in the last 7 days; next allowed 2026-11-30T12:00Z"
	if r := d.GetReasons()[0]; r.GetMessage() != want || r.GetRule() != "cap.weekly" || r.GetCode() != hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP {
		t.Errorf("reason %v, want cap.weekly with %q", r, want)
	}
	if d, _ := decide(t, st, pol, intent("w-open", "c"), opens); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("exactly when the oldest contact slides out: %v, want approved", d.GetReasons())
	}
	// The replay of the suppression says the same, and counted nothing.
	again, replayed := decide(t, st, pol, intent("w-edge", "c"), opens.Add(time.Hour))
	if !replayed || again.GetReasons()[0].GetMessage() != want {
		t.Errorf("replay %v %v", replayed, again.GetReasons())
	}
}

// TestShorterCapWindowSlidesToTheMillisecond checks the edge of a cap that
// is not the longest: the script reads the ledger once, for the longest
// window, and each shorter cap must still drop a contact exactly one of its
// windows old.
func TestShorterCapWindowSlidesToTheMillisecond(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"caps:\n"+
		"  - { id: daily, scope: category, window: 1d, max: 1, classes: [marketing] }\n"+
		"  - { id: weekly, scope: category, window: 7d, max: 10, classes: [marketing] }\n")
	if d, _ := decide(t, st, pol, intent("s-0", "c"), t0); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("first contact: %v", d.GetReasons())
	}
	opens := t0.Add(24 * time.Hour)
	d, _ := decide(t, st, pol, intent("s-edge", "c"), opens.Add(-time.Millisecond))
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetRule() != "cap.daily" {
		t.Fatalf("one ms before the daily window slides: %v %v, want suppressed by cap.daily", d.GetOutcome(), d.GetReasons())
	}
	if d, _ := decide(t, st, pol, intent("s-open", "c"), opens); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("exactly one day after the contact: %v, want approved", d.GetReasons())
	}
}

func TestCapsCountOnlyTheClassesTheyCap(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"caps:\n  - { id: daily, scope: customer, window: 24h, max: 2, classes: [marketing] }\n")
	for i, cat := range []string{"critical", "transactional", "service", "service", "marketing", "marketing"} {
		it := intent(fmt.Sprint("k-", i), "c")
		it.Category = cat
		if d, _ := decide(t, st, pol, it, t0.Add(time.Duration(i)*time.Minute)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("%s: %v", cat, d.GetReasons())
		}
	}
	ledger, err := st.Ledger(context.Background(), "c", t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	for _, c := range ledger {
		classes = append(classes, c.Class)
	}
	if got := strings.Join(classes, ""); got != "ctssmm" {
		t.Errorf("ledger classes %q, want every contact counted with its class (ctssmm)", got)
	}
	// The ledger the caps read holds only what caps can count; critical
	// and transactional contacts are kept apart, so a customer with many
	// receipts does not make every decision read them.
	if n := r.Client.ZCard(context.Background(), st.LedgerKey("c")).Val(); n != 4 {
		t.Errorf("capped ledger holds %d contacts, want the 4 service and marketing ones", n)
	}
	if n := r.Client.ZCard(context.Background(), st.UncappedKey("c")).Val(); n != 2 {
		t.Errorf("uncapped ledger holds %d contacts, want the critical and the transactional one", n)
	}
	if d, _ := decide(t, st, pol, intent("k-third", "c"), t0.Add(time.Hour)); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
		t.Errorf("third marketing contact: %v, want suppressed", d.GetOutcome())
	}
}

func TestDeferralIsRecordedWithItsReleaseButNotCounted(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"quiet_hours:\n  classes: [marketing]\n  action: defer\n  quiet: [\"21:00-08:00\"]\n")
	night := time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
	d, _ := decide(t, st, pol, intent("night-1", "c"), night)
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED || !d.GetReleaseAt().AsTime().Equal(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("decision %v, want deferred to 08:00", d)
	}
	rec, err := st.Decision(context.Background(), "c", "night-1")
	if err != nil || rec.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED || rec.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_QUIET_HOURS {
		t.Fatalf("recorded %v (%v), want the deferral with its reason", rec, err)
	}
	ledger, _ := st.Ledger(context.Background(), "c", night.Add(-time.Hour))
	if len(ledger) != 0 {
		t.Errorf("a deferral was counted: %v", ledger)
	}
	// The customer's decisions hash outlives its latest record (kept for the
	// retention, to the second) by at most an eighth of the retention.
	ttl, err := r.Client.PTTL(context.Background(), st.DecisionsKey("c")).Result()
	if most := pol.DecisionRetention + pol.DecisionRetention/8 + 2*time.Second; err != nil || ttl < pol.DecisionRetention-time.Minute || ttl > most {
		t.Errorf("decisions TTL %v, want the policy's retention %v, at most %v", ttl, pol.DecisionRetention, most)
	}
}

// TestOptOutIsHonouredByTheNextDecisionUnderLoad writes an opt-out while
// replicas keep deciding with preferences they cached before it: no
// decision that starts after the write is acknowledged approves.
func TestOptOutIsHonouredByTheNextDecisionUnderLoad(t *testing.T) {
	r := testenv.StartRedis(t)
	stores := clients(t, r, 8)
	pol := parse(t, "version: v\n"+categories)
	var acked atomic.Bool
	var late atomic.Int32 // approvals of decisions started after the ack
	var after atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				started := acked.Load()
				// Every decider evaluates with what it cached: nothing.
				d, _, err := tryDecide(st, pol, intent(fmt.Sprintf("o-%d-%d", w, i), "c-opt"), t0, nil, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if started {
					after.Add(1)
					if d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
						late.Add(1)
					}
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if _, _, err := stores[0].SetPreferences(context.Background(), "c-opt", &hushv1.Preferences{OptedOutChannels: []string{"email"}}, nil); err != nil {
		t.Fatal(err)
	}
	acked.Store(true)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if after.Load() == 0 {
		t.Fatal("no decision started after the opt-out")
	}
	if n := late.Load(); n != 0 {
		t.Fatalf("%d of %d decisions started after the acknowledged opt-out approved", n, after.Load())
	}
}

func TestReplyWindows(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	pol := parse(t, "version: v\n"+categories)
	if _, _, err := st.SetPreferences(ctx, "c", &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING}, nil); err != nil {
		t.Fatal(err)
	}
	until := t0.Add(7 * 24 * time.Hour)
	if got, err := st.OpenReplyWindow(ctx, "c", "email", "thread-1", until, t0); err != nil || !got.Equal(until) {
		t.Fatalf("open: %v %v", got, err)
	}
	// An older inbound arriving late does not shorten the window.
	if got, _ := st.OpenReplyWindow(ctx, "c", "email", "thread-1", until.Add(-time.Hour), t0); !got.Equal(until) {
		t.Errorf("window end %v, want %v kept", got, until)
	}
	reply := intent("re-1", "c")
	reply.Category, reply.InReplyTo = "service", "thread-1"
	d, _, err := tryDecide(st, pol, reply, t0.Add(time.Hour), nil, 0)
	if err != nil || d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("a reply inside the window of a do-nothing customer: %v %v", d, err)
	}
	late := intent("re-2", "c")
	late.Category, late.InReplyTo = "service", "thread-1"
	if d, _, _ := tryDecide(st, pol, late, until, nil, 0); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
		t.Errorf("a reply as the window closes: %v, want suppressed (do nothing)", d.GetOutcome())
	}
	// Closed windows are forgotten when another opens.
	if _, err := st.OpenReplyWindow(ctx, "c", "email", "thread-2", until.Add(14*24*time.Hour), until.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ReplyWindow(ctx, "c", "email", "thread-1"); !got.IsZero() {
		t.Errorf("closed window still kept: %v", got)
	}
}

// TestShadowCapRecordsItsReasonAndCountsButNeverSuppresses: a cap in
// shadow mode keeps counting, so its would-be reason is exact, and the
// decision stays an approval.
func TestShadowCapRecordsItsReasonAndCountsButNeverSuppresses(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories+"caps:\n  - { id: trial, scope: customer, window: 1h, max: 1, classes: [marketing], mode: shadow }\n")
	for i := range 3 {
		d, _ := decide(t, st, pol, intent(fmt.Sprint("sh-", i), "c"), t0.Add(time.Duration(i)*time.Minute))
		if d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED || len(d.GetReasons()) != 0 {
			t.Fatalf("intent %d: %v; a shadow cap never suppresses", i, d)
		}
		wantShadow := min(i, 1)
		if len(d.GetShadowReasons()) != wantShadow {
			t.Fatalf("intent %d: shadow reasons %v, want %d", i, d.GetShadowReasons(), wantShadow)
		}
		if i == 2 {
			sr := d.GetShadowReasons()[0]
			want := "2 of 1 contacts in the last 1 hour; next allowed 2026-11-23T13:01Z"
			if sr.GetRule() != "cap.trial" || sr.GetCode() != hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP || sr.GetMessage() != want {
				t.Errorf("shadow reason %v, want cap.trial %q", sr, want)
			}
		}
	}
	if ledger, _ := st.Ledger(context.Background(), "c", t0.Add(-time.Hour)); len(ledger) != 3 {
		t.Errorf("ledger holds %d, want all 3 approvals counted", len(ledger))
	}
}

// TestLongestWindowsAreHonouredExactly: the ledger keeps what the longest
// window the API and the policy accept needs. A customer's "1 per 31 days"
// (the API's limit) and a policy cap of 1 per 90 days each hold to the
// millisecond at their far end.
func TestLongestWindowsAreHonouredExactly(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	cases := []struct {
		name, policy, customer string
		prefs                  *hushv1.Preferences
		window                 time.Duration
		rule                   string
	}{
		{name: "customer frequency at the API's limit", policy: "version: v\n" + categories, customer: "c-freq",
			prefs:  &hushv1.Preferences{MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(policy.MaxCustomerWindow)}},
			window: policy.MaxCustomerWindow, rule: policy.RuleCustomerFrequency},
		{name: "a 90-day policy cap", policy: "version: v\n" + categories + "caps:\n  - { id: quarterly, scope: customer, window: 90d, max: 1, classes: [marketing] }\n",
			customer: "c-cap", window: 90 * 24 * time.Hour, rule: "cap.quarterly"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := parse(t, c.policy)
			var version uint64
			if c.prefs != nil {
				c.prefs.CustomerId = c.customer
				v, _, err := st.SetPreferences(ctx, c.customer, c.prefs, nil)
				if err != nil {
					t.Fatal(err)
				}
				version = v
			}
			at := func(id string, now time.Time) *hushv1.Decision {
				t.Helper()
				d, _, err := tryDecide(st, pol, intent(id, c.customer), now, c.prefs, version)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			if d := at("first", t0); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
				t.Fatalf("first contact: %v", d)
			}
			if c.window > 31*24*time.Hour {
				if d := at("day-32", t0.Add(31*24*time.Hour+time.Millisecond)); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
					t.Errorf("day 32 of %s: %v, want suppressed", policy.HumanWindow(c.window), d)
				}
			}
			if d := at("last-ms", t0.Add(c.window-time.Millisecond)); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetRule() != c.rule {
				t.Errorf("1 ms before the window ends: %v, want suppressed by %s", d, c.rule)
			}
			if d := at("window-end", t0.Add(c.window)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
				t.Errorf("when the window ends: %v, want approved", d)
			}
		})
	}
}

// TestLedgerOutlivesItsNewestContact: a ledger's life is extended only
// when less than the ledger retention is left (one write fewer per
// approval), and then by an eighth more; so after every counted contact it
// still lives at least the retention, for both the capped and the
// uncapped ledger, and no cap loses a contact it must count.
func TestLedgerOutlivesItsNewestContact(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, "version: v\n"+categories)
	ctx := context.Background()
	receipt := func(id, customer string) *hushv1.ContactIntent {
		it := intent(id, customer)
		it.Category = "transactional"
		return it
	}
	ttl := func(key string) time.Duration {
		t.Helper()
		d, err := r.Client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	most := pol.LedgerRetention + pol.LedgerRetention/8 + time.Second
	for i, key := range []string{st.LedgerKey("c"), st.UncappedKey("c")} {
		mk := intent
		if i == 1 {
			mk = receipt
		}
		if d, _ := decide(t, st, pol, mk(fmt.Sprintf("l%d-1", i), "c"), t0); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("%s: first contact %v, want approved", key, d.GetOutcome())
		}
		if got := ttl(key); got < pol.LedgerRetention-time.Minute || got > most {
			t.Errorf("%s after its first contact: TTL %v, want the ledger retention %v and at most %v", key, got, pol.LedgerRetention, most)
		}
		// Its life runs short (as it would a retention later without a
		// new contact); the next contact extends it again.
		if err := r.Client.PExpire(ctx, key, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if d, _ := decide(t, st, pol, mk(fmt.Sprintf("l%d-2", i), "c"), t0.Add(time.Minute)); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("%s: second contact %v, want approved", key, d.GetOutcome())
		}
		if got := ttl(key); got < pol.LedgerRetention-time.Minute || got > most {
			t.Errorf("%s after a contact with an hour left: TTL %v, want at least the ledger retention %v (at most %v)", key, got, pol.LedgerRetention, most)
		}
	}
}
