package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/deferral"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// recordDeferral records a deferral for it, as the quiet-hours rule does:
// the gatekeeper then meets a deferred decision for it exactly as it does
// when the rules defer it, or when a deferred intent is redelivered.
func (h *harness) recordDeferral(it *hushv1.ContactIntent, releaseAt time.Time) {
	h.t.Helper()
	now := time.Now()
	r := policy.Reason{Code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, Rule: "quiet_hours", Message: "inside quiet hours"}
	v := policy.Verdict{Outcome: hushv1.Outcome_OUTCOME_DEFERRED, Reason: r, ReleaseAt: releaseAt}
	d := &hushv1.Decision{
		IntentId: it.GetId(), CustomerId: it.GetCustomerId(), Channel: it.GetChannel(), Category: it.GetCategory(),
		Outcome: v.Outcome, Reasons: []*hushv1.Reason{r.Proto()}, PolicyVersion: h.pol.Version,
		DecidedAt: timestamppb.New(now), ReleaseAt: timestamppb.New(releaseAt),
	}
	res, err := h.store.Decide(context.Background(), store.DecideRequest{
		Intent: it, Now: now, Verdict: &v, Decision: d,
		DecisionRetention: h.pol.DecisionRetention, LedgerRetention: h.pol.LedgerRetention,
	})
	if err != nil || res.Stale || res.Replayed {
		h.t.Fatalf("record deferral of %s: %+v, %v", it.GetId(), res, err)
	}
}

func (h *harness) deferrals() *deferral.Deferrals {
	return deferral.New(h.js, h.store, h.subjects, h.pol.DecisionRetention)
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// terminal returns, per intent id, the terminal outcomes published so far
// (dispatch, suppression log entries other than deferrals, dead letters),
// and the deferral log entries.
func (h *harness) terminal() (outcomes map[string][]string, deferred map[string][]*hushv1.Decision) {
	h.t.Helper()
	outcomes, deferred = map[string][]string{}, map[string][]*hushv1.Decision{}
	for _, m := range h.read(bus.StreamDispatch) {
		id := m.Headers().Get(nats.MsgIdHdr)
		outcomes[id] = append(outcomes[id], "dispatched")
	}
	for _, m := range h.read(bus.StreamSuppressed) {
		d := suppression(h.t, m).GetDecision()
		if d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
			deferred[d.GetIntentId()] = append(deferred[d.GetIntentId()], d)
			continue
		}
		outcomes[d.GetIntentId()] = append(outcomes[d.GetIntentId()], "suppressed:"+policy.ShortCode(d.GetReasons()[0].GetCode())+":"+d.GetReasons()[0].GetRule())
	}
	for _, m := range h.read(bus.StreamDeadLetter) {
		dl := deadLetter(h.t, m)
		it, err := bus.DecodeIntent(dl.GetData(), nil)
		id := "?"
		if err == nil {
			id = it.GetId()
		}
		outcomes[id] = append(outcomes[id], "dead:"+dl.GetStage())
	}
	return outcomes, deferred
}

// released returns the deferred intents the server released, as stored.
func (h *harness) released() []jetstream.Msg {
	var out []jetstream.Msg
	for _, m := range h.read(bus.StreamDeferred) {
		if h.subjects.IsReleased(m.Subject()) {
			out = append(out, m)
		}
	}
	return out
}

func TestDeferredIntentIsAckedAtOnceAndDecidedAgainAtItsReleaseTime(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	ctx := context.Background()

	releaseAt := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	stays := intent("stays", "c-stays", "email", "marketing")
	optsOut := intent("opts-out", "c-out", "email", "marketing")
	expires := intent("expires", "c-exp", "email", "marketing")
	expires.NotAfter = timestamppb.New(releaseAt.Add(-time.Second))
	for _, it := range []*hushv1.ContactIntent{stays, optsOut, expires} {
		h.recordDeferral(it, releaseAt)
		h.publish(it)
	}

	// Deferrals are stored, logged and acked long before their release:
	// they never wait in the consumer's ack window.
	waitAcked(t, h, 3)
	if time.Now().After(releaseAt) {
		t.Fatal("the intents were acked only after their release time")
	}
	list, err := h.deferrals().List(ctx, "c-stays")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].IntentID != "stays" || !list[0].ReleaseAt.Equal(releaseAt) || list[0].Channel != "email" {
		t.Fatalf("deferrals of c-stays: %+v; want stays released at %s", list, releaseAt)
	}
	_, deferred := h.terminal()
	if len(deferred) != 3 || !deferred["stays"][0].GetReleaseAt().AsTime().Equal(releaseAt) {
		t.Fatalf("deferral log: %v; want one entry with release_at per intent", deferred)
	}

	// The customer's wishes change while the intent waits: the release is
	// decided with today's preferences, not replayed.
	h.setPrefs("c-out", &hushv1.Preferences{OptedOutChannels: []string{"email"}})

	var outcomes map[string][]string
	waitFor(t, 30*time.Second, "three terminal outcomes", func() bool {
		outcomes, _ = h.terminal()
		return len(outcomes) == 3
	})
	want := map[string]string{
		"stays":    "dispatched",
		"opts-out": "suppressed:opted_out:" + policy.RuleOptOut,
		"expires":  "suppressed:expired:" + policy.RuleExpired,
	}
	for id, w := range want {
		if got := outcomes[id]; len(got) != 1 || got[0] != w {
			t.Errorf("%s: outcomes %v, want [%s]", id, got, w)
		}
	}
	rel := h.released()
	if len(rel) != 3 {
		t.Fatalf("%d releases, want 3 (one per deferral)", len(rel))
	}
	for _, m := range rel {
		md, _ := m.Metadata()
		if late := md.Timestamp.Sub(releaseAt); late < -10*time.Millisecond || late > time.Second {
			t.Errorf("released %s after release_at, want within 1s", late)
		}
	}
	d := h.read(bus.StreamDispatch)[0]
	md, _ := d.Metadata()
	if late := md.Timestamp.Sub(releaseAt); late > time.Second {
		t.Errorf("dispatched %s after release_at, want within 1s", late)
	}
	assertLedger(t, h, "c-stays", 1)
	if list, _ := h.deferrals().List(ctx, "c-stays"); len(list) != 0 {
		t.Errorf("deferrals left after the release: %+v", list)
	}
}

func TestCancelledDeferralIsSuppressedAndNeverReleased(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	ctx := context.Background()
	releaseAt := time.Now().Add(3 * time.Second)
	keep, drop := intent("keep", "c-1", "sms", "marketing"), intent("drop", "c-1", "email", "marketing")
	for _, it := range []*hushv1.ContactIntent{keep, drop} {
		h.recordDeferral(it, releaseAt)
		h.publish(it)
	}
	waitAcked(t, h, 2)
	dfr := h.deferrals()
	if list, err := dfr.List(ctx, "c-1"); err != nil || len(list) != 2 {
		t.Fatalf("deferrals of c-1: %+v, %v; want 2", list, err)
	}
	if err := dfr.Cancel(ctx, "c-1", "drop"); err != nil {
		t.Fatal(err)
	}
	if err := dfr.Cancel(ctx, "c-1", "drop"); !errors.Is(err, deferral.ErrNotFound) {
		t.Errorf("second cancel: %v, want ErrNotFound", err)
	}
	if err := dfr.Cancel(ctx, "c-2", "keep"); !errors.Is(err, deferral.ErrNotFound) {
		t.Errorf("cancel of another customer's intent: %v, want ErrNotFound", err)
	}
	if list, err := dfr.List(ctx, "c-1"); err != nil || len(list) != 1 || list[0].IntentID != "keep" {
		t.Fatalf("deferrals of c-1 after cancel: %+v, %v; want keep only", list, err)
	}

	waitFor(t, 30*time.Second, "keep released and dispatched", func() bool {
		out, _ := h.terminal()
		return len(out["keep"]) > 0
	})
	time.Sleep(time.Second) // a release of drop would be decided by now
	out, _ := h.terminal()
	if got := out["drop"]; len(got) != 1 || got[0] != "suppressed:deferral_cancelled:"+deferral.RuleCancelled {
		t.Errorf("drop: %v; want one suppression by %s", got, deferral.RuleCancelled)
	}
	if got := out["keep"]; len(got) != 1 || got[0] != "dispatched" {
		t.Errorf("keep: %v; want dispatched once", got)
	}
	if rel := h.released(); len(rel) != 1 {
		t.Errorf("%d releases, want 1: the cancelled deferral must not fire", len(rel))
	}
	if d, _ := h.store.Decision(ctx, "c-1", "drop"); d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
		t.Errorf("recorded decision of drop: %v; want the cancellation, so a redelivery replays it", d)
	}
	// The producer is told, and the customer's history has it: once, on
	// the producer's and the customer's outcome subject.
	cancelled := 0
	for _, m := range h.read(bus.StreamOutcomes) {
		var rec hushv1.SuppressionRecord
		if err := proto.Unmarshal(m.Data(), &rec); err != nil || rec.GetDecision().GetIntentId() != "drop" ||
			rec.GetDecision().GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED {
			continue
		}
		cancelled++
		if want := h.subjects.Outcome(drop.GetSender().GetService(), "email", "c-1"); m.Subject() != want {
			t.Errorf("cancellation's outcome on %s, want %s", m.Subject(), want)
		}
	}
	var inHistory []string
	if _, err := h.subjects.ReadHistory(ctx, h.js, "c-1", time.Now().Add(-time.Hour), func(rec *hushv1.SuppressionRecord, _ bool) error {
		inHistory = append(inHistory, rec.GetDecision().GetIntentId()+":"+policy.ShortOutcome(rec.GetDecision().GetOutcome()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if cancelled != 1 || !slices.Contains(inHistory, "drop:suppressed") || !slices.Contains(inHistory, "keep:approved") || len(inHistory) != 2 {
		t.Errorf("cancellation fed back %d times, history %v; want once, and the history keep approved and drop suppressed (no deferrals)", cancelled, inHistory)
	}
}

func TestReleasesHappenOnceWhileReplicasComeAndGo(t *testing.T) {
	h := newHarness(t)
	stop := h.startGatekeeper(gatekeeper.Options{Workers: 8})
	h.startGatekeeper(gatekeeper.Options{Workers: 8})
	const n = 60
	releaseAt := time.Now().Add(2 * time.Second)
	for i := range n {
		it := intent(fmt.Sprintf("many-%02d", i), fmt.Sprintf("c-%02d", i%7), "push", "transactional")
		h.recordDeferral(it, releaseAt)
		h.publish(it)
	}
	waitAcked(t, h, n)
	// One replica leaves and another arrives while the deferrals wait.
	stop()
	h.startGatekeeper(gatekeeper.Options{Workers: 8})

	var out map[string][]string
	waitFor(t, 30*time.Second, fmt.Sprintf("%d dispatches", n), func() bool {
		out, _ = h.terminal()
		return len(out) == n
	})
	time.Sleep(300 * time.Millisecond)
	out, _ = h.terminal()
	for id, got := range out {
		if len(got) != 1 || got[0] != "dispatched" {
			t.Errorf("%s: %v, want dispatched once", id, got)
		}
	}
	if rel := h.released(); len(rel) != n {
		t.Errorf("%d releases, want %d", len(rel), n)
	}
}

// panicky is a propagator that panics on one header: a stand-in for any bug
// that panics while one message is handled.
type panicky struct{ propagation.TraceContext }

func (p panicky) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	if c.Get("X-Test-Panic") != "" {
		panic("boom: " + c.Get("X-Test-Panic"))
	}
	return p.TraceContext.Extract(ctx, c)
}

func TestPanicIsContainedToItsMessage(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{Propagator: panicky{}})
	h.publishRaw("hush.intent.email", mustMarshal(t, intent("bad", "c-1", "email", "marketing")), nats.Header{"X-Test-Panic": {"bad"}})
	h.publish(intent("good", "c-1", "email", "marketing"))

	dispatched, _, dead := h.outcomes(2)
	if len(dispatched) != 1 || dispatched[0].Headers().Get(nats.MsgIdHdr) != "good" {
		t.Fatalf("dispatched %d; want good decided after the panic", len(dispatched))
	}
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	if dl := deadLetter(t, dead[0]); dl.GetStage() != "panic" || !strings.Contains(dl.GetError(), "boom: bad") {
		t.Errorf("dead letter %v; want stage panic with the panic value", dl)
	}
	waitAcked(t, h, 2)
}

// crashOnEveryDelivery takes an intent's deliveries without ever acking
// them, as a gatekeeper that dies while handling each does.
func crashOnEveryDelivery(t *testing.T, h *harness, cfg jetstream.ConsumerConfig, deliveries int) {
	t.Helper()
	ctx := context.Background()
	cons, err := h.js.CreateOrUpdateConsumer(ctx, h.subjects.Stream(bus.StreamIntents), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for got := 0; got < deliveries; {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() {
			got++
		}
	}
}

func TestIntentWhoseLastDeliveryDiedIsDeadLetteredOrItsDecisionPublished(t *testing.T) {
	h := newHarness(t)
	o := gatekeeper.Options{Subjects: h.subjects, MaxDeliver: 2, AckWait: time.Second}
	cfg := gatekeeper.New(h.js, h.store, h.pol, o).ConsumerConfig()
	// A consumer an earlier version created, whose JetStream gave up after
	// MaxDeliver deliveries and left MAX_DELIVERIES advisories (today's
	// never gives up: see TestAnIntentWhoseGatekeepersDiedIsDecided...).
	cfg.MaxDeliver = 2

	undecided := intent("undecided", "c-1", "email", "marketing")
	decided := intent("decided", "c-2", "email", "marketing")
	// "decided" was decided and its dispatch lost with its gatekeeper.
	v := h.pol.Evaluate(policy.Input{Intent: decided, Now: time.Now()})
	if _, err := h.store.Decide(context.Background(), store.DecideRequest{Intent: decided, Now: time.Now(), Verdict: &v,
		Decision:          &hushv1.Decision{IntentId: "decided", CustomerId: "c-2", Channel: "email", Outcome: v.Outcome, DecidedAt: timestamppb.Now()},
		DecisionRetention: time.Hour, LedgerRetention: time.Hour}); err != nil {
		t.Fatal(err)
	}
	h.publish(undecided)
	h.publish(decided)
	crashOnEveryDelivery(t, h, cfg, 4) // 2 intents × MaxDeliver

	// A gatekeeper comes back; JetStream will not deliver them again, but
	// its MAX_DELIVERIES advisories are in the advisories stream.
	h.startGatekeeper(o)
	var out map[string][]string
	waitFor(t, 30*time.Second, "both intents settled", func() bool {
		out, _ = h.terminal()
		return len(out) == 2
	})
	time.Sleep(300 * time.Millisecond)
	out, _ = h.terminal()
	if got := out["undecided"]; len(got) != 1 || got[0] != "dead:max_deliver" {
		t.Errorf("undecided: %v; want one dead letter (max_deliver)", got)
	}
	if got := out["decided"]; len(got) != 1 || got[0] != "dispatched" {
		t.Errorf("decided: %v; want its recorded approval dispatched, not a dead letter", got)
	}
	_, _, dead := h.outcomes(2)
	if dl := deadLetter(t, dead[0]); !strings.Contains(dl.GetError(), "deliveries exhausted (2)") || dl.GetStreamSequence() != 1 {
		t.Errorf("dead letter %v; want the exhaustion and the stream sequence", dl)
	}
	// A late worker deciding "undecided" now replays the claim: no
	// dispatch can follow the dead letter.
	if d, _ := h.store.Decision(context.Background(), "c-1", "undecided"); d.GetOutcome() != hushv1.Outcome_OUTCOME_INVALID {
		t.Errorf("record of undecided: %v; want the dead-letter claim", d)
	}
}

// TestQuietHoursDeferEndToEnd uses the policy's own quiet-hours rule: quiet
// hours that end at the next minute (UTC, the fallback zone) defer a
// marketing intent to that minute; it is acked at once, released at the
// minute and, the quiet hours over, dispatched. A critical intent is never
// held back.
func TestQuietHoursDeferEndToEnd(t *testing.T) {
	h := newHarness(t)
	now := time.Now().UTC()
	end := now.Truncate(time.Minute).Add(time.Minute)
	if end.Sub(now) < 5*time.Second {
		end = end.Add(time.Minute)
	}
	start := now.Add(-time.Hour)
	doc := fmt.Sprintf(`version: quiet-1
fallback_time_zone: UTC
categories:
  critical:  { class: critical }
  marketing: { class: marketing }
quiet_hours:
  classes: [marketing]
  action: defer
  quiet: ["%s-%s"]
producers:
  campaigns: { categories: [critical] }
`, start.Format("15:04"), end.Format("15:04"))
	pol, err := policy.Parse("quiet.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	h.pol = pol
	h.startGatekeeper(gatekeeper.Options{})
	h.publish(intent("night-1", "c-night", "email", "marketing"))
	h.publish(intent("alarm-1", "c-night", "email", "critical"))

	waitAcked(t, h, 2)
	if time.Now().After(end) {
		t.Fatal("acked only after the quiet hours ended")
	}
	list, err := h.deferrals().List(context.Background(), "c-night")
	if err != nil || len(list) != 1 || list[0].IntentID != "night-1" || !list[0].ReleaseAt.Equal(end) {
		t.Fatalf("deferrals %+v, %v; want night-1 until %s", list, err, end)
	}
	_, deferred := h.terminal()
	if d := deferred["night-1"]; len(d) != 1 || d[0].GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_QUIET_HOURS {
		t.Fatalf("deferral log %v; want one quiet-hours entry", d)
	}

	waitFor(t, time.Until(end)+30*time.Second, "night-1 decided after the quiet hours", func() bool {
		return h.streamMsgs(bus.StreamDispatch)+h.streamMsgs(bus.StreamSuppressed) >= 3 // alarm, the deferral, night-1
	})
	time.Sleep(200 * time.Millisecond) // anything more would be a duplicate
	out, _ := h.terminal()
	if got := out["night-1"]; len(got) != 1 || got[0] != "dispatched" {
		t.Errorf("night-1: %v, want dispatched once after the quiet hours", got)
	}
	if got := out["alarm-1"]; len(got) != 1 || got[0] != "dispatched" {
		t.Errorf("alarm-1: %v, want dispatched at once", got)
	}
	for _, m := range h.read(bus.StreamDispatch) {
		md, _ := m.Metadata()
		if m.Headers().Get(nats.MsgIdHdr) == "night-1" && (md.Timestamp.Before(end) || md.Timestamp.After(end.Add(time.Second))) {
			t.Errorf("night-1 dispatched at %s, want within 1s after %s", md.Timestamp, end)
		}
	}
}
