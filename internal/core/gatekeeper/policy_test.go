package gatekeeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const agentPolicy = `
version: agents-1
categories:
  critical: { class: critical }
  support:  { class: service }
  marketing: { class: marketing }
unsolicited:
  customer: { window: 14d, max: 1 }
  agent:    { window: 24h, max: 20 }
producers:
  campaigns: { categories: [critical] }
`

func (h *harness) usePolicy(doc string) {
	h.t.Helper()
	p, err := policy.Parse("test.yaml", []byte(doc))
	if err != nil {
		h.t.Fatal(err)
	}
	h.pol = p
}

// startInbound runs the inbound consumer of a gatekeeper replica (RunInbound,
// which the binary runs next to Run) until the test ends.
func (h *harness) startInbound() {
	h.t.Helper()
	nc, js, err := connect.NATS(h.nats.URL, connect.NATSOptions{Name: "test-inbound"})
	if err != nil {
		h.t.Fatal(err)
	}
	rdb := h.redisClient(10)
	gk := gatekeeper.New(js, store.New(rdb, h.prefix), h.pol, gatekeeper.Options{Subjects: h.subjects})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.RunInbound(ctx) }()
	select {
	case <-gk.InboundReady():
	case err := <-done:
		h.t.Fatalf("inbound consumer stopped before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("inbound consumer not ready within 10s")
	}
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("inbound consumer: %v", err)
		}
		nc.Close()
		rdb.Close()
	})
}

func agentIntent(id, customer, agent, purpose string) *hushv1.ContactIntent {
	it := intent(id, customer, "email", "support")
	it.Initiator, it.Purpose, it.Sender.AgentId = "agent", purpose, agent
	return it
}

func reasonsByID(t *testing.T, msgs []jetstream.Msg) map[string]*hushv1.Decision {
	t.Helper()
	out := map[string]*hushv1.Decision{}
	for _, m := range msgs {
		d := suppression(t, m).GetDecision()
		out[d.GetIntentId()] = d
	}
	return out
}

func TestInboundContactOpensAReplyWindow(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(agentPolicy)
	h.setPrefs("quiet-c", &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING})
	h.startGatekeeper(gatekeeper.Options{})
	h.startInbound()

	// What a contact-centre system sends when the customer writes in: a
	// plain JSON publish.
	h.publishRaw("hush.inbound.email", []byte(`{"customerId":"quiet-c","channel":"email","threadId":"case-42"}`),
		nats.Header{"Content-Type": {"application/json"}})
	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"quiet-c","channel":"email","threadId":"case-43"}`),
		nats.Header{"Content-Type": {"application/json"}}) // channel does not match the subject
	h.publishRaw("hush.inbound.email", []byte{0xff, 0x00}, nil)

	deadline := time.Now().Add(30 * time.Second)
	for {
		until, err := h.store.ReplyWindow(context.Background(), "quiet-c", "email", "case-42")
		if err != nil {
			t.Fatal(err)
		}
		if !until.IsZero() {
			if d := time.Until(until); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour {
				t.Errorf("reply window ends in %v, want the policy's 7 days", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reply window recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}

	reply := agentIntent("reply-1", "quiet-c", "agent-7", "")
	reply.InReplyTo = "case-42"
	h.publish(reply)                                                 // a reply passes do-nothing and needs no purpose
	h.publish(agentIntent("cold-1", "quiet-c", "agent-7", "upsell")) // unsolicited: do-nothing holds
	h.publish(agentIntent("cold-2", "other-c", "agent-7", ""))       // unsolicited without a purpose
	stray := agentIntent("stray-1", "other-c", "agent-7", "")        // a reply to a thread that was never opened
	stray.InReplyTo = "case-42"                                      // (it is quiet-c's thread)
	h.publish(stray)

	dispatched, suppressed, dead := h.outcomes(6)
	if len(dispatched) != 1 || dispatched[0].Headers().Get(nats.MsgIdHdr) != "reply-1" {
		t.Fatalf("dispatched %d; want only the reply", len(dispatched))
	}
	got := reasonsByID(t, suppressed)
	for id, code := range map[string]hushv1.ReasonCode{
		"cold-1":  hushv1.ReasonCode_REASON_CODE_DO_NOTHING,
		"cold-2":  hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE,
		"stray-1": hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE,
	} {
		if d := got[id]; d == nil || d.GetReasons()[0].GetCode() != code {
			t.Errorf("%s: %v, want %v", id, d.GetReasons(), code)
		}
	}
	if len(dead) != 2 {
		t.Fatalf("dead letters %d, want the 2 malformed inbound contacts", len(dead))
	}
	for _, m := range dead {
		if dl := deadLetter(t, m); dl.GetSubject() == "" || (dl.GetStage() != "validate" && dl.GetStage() != "decode") {
			t.Errorf("dead letter %v", dl)
		}
	}
	ledger, err := h.store.Ledger(context.Background(), "quiet-c", time.Now().Add(-time.Hour))
	if err != nil || len(ledger) != 1 || ledger[0].Unsolicited {
		t.Errorf("ledger %v (%v); want the reply counted as solicited", ledger, err)
	}
}

// TestAgentCapNeverLeaksBudgetNorExceedsIt drives unsolicited agent
// contacts through four replicas. Contacts the customers' own guard
// suppresses reserve agent budget and must give it back; then the agent's
// full budget, and no more, is usable.
func TestAgentCapNeverLeaksBudgetNorExceedsIt(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(agentPolicy)
	for range 4 {
		h.startGatekeeper(gatekeeper.Options{Workers: 16})
	}
	// 30 customers already had an unsolicited contact (from two other agents).
	for i := range 30 {
		h.publish(agentIntent(fmt.Sprintf("seed-%02d", i), fmt.Sprintf("seeded-%02d", i), fmt.Sprintf("agent-seed-%d", i%2), "renewal"))
	}
	if dispatched, _, _ := h.outcomes(30); len(dispatched) != 30 {
		t.Fatalf("seeding dispatched %d of 30", len(dispatched))
	}

	// agent-7 reaches out to each of them: every one is suppressed by the
	// per-customer guard (or, while others hold reservations, by the agent
	// cap), and none may keep agent budget.
	for i := range 30 {
		h.publish(agentIntent(fmt.Sprintf("again-%02d", i), fmt.Sprintf("seeded-%02d", i), "agent-7", "renewal"))
	}
	if dispatched, suppressed, _ := h.outcomes(60); len(dispatched) != 30 || len(suppressed) != 30 {
		t.Fatalf("dispatched %d, suppressed %d; want all 30 of agent-7's suppressed", len(dispatched)-30, len(suppressed))
	}
	counted, pending, err := h.store.AgentLedger(context.Background(), "agent-7", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(counted) != 0 || pending != 0 {
		t.Fatalf("suppressed intents kept agent budget: %d counted, %d pending", len(counted), pending)
	}

	// Now 25 fresh customers, racing: exactly the budget of 20 goes out.
	for i := range 25 {
		h.publish(agentIntent(fmt.Sprintf("fresh-%02d", i), fmt.Sprintf("fresh-%02d", i), "agent-7", "renewal"))
	}
	dispatched, suppressed, dead := h.outcomes(85)
	if len(dispatched) != 50 || len(suppressed) != 35 || len(dead) != 0 {
		t.Fatalf("agent-7 dispatched %d of 25 fresh (want 20), suppressed %d", len(dispatched)-30, len(suppressed)-30)
	}
	agentCapped := 0
	for _, d := range reasonsByID(t, suppressed) {
		if d.GetReasons()[0].GetCode() == hushv1.ReasonCode_REASON_CODE_AGENT_CAP {
			agentCapped++
			if r := d.GetReasons()[0]; r.GetRule() != policy.RuleUnsolicitedAgent || r.GetMessage() == "" {
				t.Errorf("agent cap reason %v", r)
			}
		}
	}
	if agentCapped < 5 {
		t.Errorf("%d suppressions by the agent cap, want at least the 5 fresh customers over budget", agentCapped)
	}
	counted, pending, err = h.store.AgentLedger(context.Background(), "agent-7", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(counted) != 20 || pending != 0 {
		t.Fatalf("agent ledger: %d counted, %d pending; want 20 confirmed", len(counted), pending)
	}
}

func TestQuietHoursDeferralGoesToTheSuppressionLogWithItsRelease(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(`
version: quiet-1
categories:
  marketing: { class: marketing }
  critical:  { class: critical }
quiet_hours:
  classes: [marketing]
  action: defer
  quiet: []
producers:
  campaigns: { categories: [critical] }
`)
	// The customer's own quiet hours hold now, whatever the time of day.
	now := time.Now().UTC()
	start := now.Truncate(time.Hour)
	end := start.Add(2 * time.Hour)
	h.setPrefs("night-owl", &hushv1.Preferences{TimeZone: "UTC",
		QuietHours: &hushv1.QuietHours{Start: start.Format("15:04"), End: end.Format("15:04")}})
	h.startGatekeeper(gatekeeper.Options{})
	h.publish(intent("later-1", "night-owl", "email", "marketing"))
	h.publish(intent("now-1", "night-owl", "email", "critical"))

	dispatched, suppressed, _ := h.outcomes(2)
	if len(dispatched) != 1 || dispatched[0].Headers().Get(nats.MsgIdHdr) != "now-1" {
		t.Fatalf("dispatched %d; want the critical intent only", len(dispatched))
	}
	if len(suppressed) != 1 {
		t.Fatalf("suppression log holds %d, want the deferral", len(suppressed))
	}
	m := suppressed[0]
	d := suppression(t, m).GetDecision()
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED || !d.GetReleaseAt().AsTime().Equal(end) ||
		d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_QUIET_HOURS || m.Headers().Get("Hush-Outcome") != "deferred" {
		t.Fatalf("decision %v (header %q); want deferred to %v for quiet hours", d, m.Headers().Get("Hush-Outcome"), end)
	}
	ledger, err := h.store.Ledger(context.Background(), "night-owl", now.Add(-time.Hour))
	if err != nil || len(ledger) != 1 || ledger[0].IntentID != "now-1" {
		t.Errorf("ledger %v (%v); want only the critical contact counted", ledger, err)
	}
}
