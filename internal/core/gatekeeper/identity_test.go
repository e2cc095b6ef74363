package gatekeeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// producerPolicy lets only the alerts producer send critical contacts and
// the billing producer transactional ones; marketing is open to every
// producer.
const producerPolicy = `
version: producers-1
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  marketing:     { class: marketing }
producers:
  alerts:  { categories: [critical, transactional] }
  billing: { categories: [transactional] }
`

// publishAs publishes an intent on the subject of a producer, as that
// producer's NATS credential lets it (deploy/nats/accounts.conf).
func (h *harness) publishAs(producer string, it *hushv1.ContactIntent) {
	h.t.Helper()
	data, err := proto.Marshal(it)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishRaw("hush.intent."+producer+"."+it.GetChannel(), data, nil)
}

func from(it *hushv1.ContactIntent, service string) *hushv1.ContactIntent {
	it.Sender.Service = service
	return it
}

// TestTheSenderIsTheAuthenticatedProducer: the producer comes from the
// subject (which only its credential may publish), never from the field it
// fills in; critical and transactional contacts need the policy's
// allow-list. Every refusal is a recorded suppression with its own reason.
func TestTheSenderIsTheAuthenticatedProducer(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(producerPolicy)
	h.startGatekeeper(gatekeeper.Options{})

	h.publishAs("alerts", from(intent("alert-1", "c-1", "email", "critical"), "alerts"))
	h.publishAs("billing", from(intent("receipt-1", "c-1", "email", "transactional"), "billing"))
	h.publishAs("campaigns", from(intent("promo-1", "c-1", "email", "marketing"), "campaigns"))
	// A campaign that declares itself critical, or transactional.
	h.publishAs("campaigns", from(intent("forged-critical", "c-1", "email", "critical"), "campaigns"))
	h.publishAs("campaigns", from(intent("forged-receipt", "c-1", "email", "transactional"), "campaigns"))
	h.publishAs("billing", from(intent("billing-critical", "c-1", "email", "critical"), "billing"))
	// A campaign that names an allow-listed producer as its sender.
	h.publishAs("campaigns", from(intent("forged-sender", "c-1", "email", "critical"), "alerts"))
	// An intent on a subject that names no producer.
	data, _ := proto.Marshal(from(intent("anonymous", "c-1", "email", "marketing"), "campaigns"))
	h.publishRaw("hush.intent.email", data, nil)

	dispatched, suppressed, dead := h.outcomes(8)
	if len(dead) != 0 {
		t.Errorf("dead letters %d, want every refusal recorded as a suppression", len(dead))
	}
	sent := map[string]bool{}
	for _, m := range dispatched {
		sent[m.Headers().Get(nats.MsgIdHdr)] = true
	}
	for _, id := range []string{"alert-1", "receipt-1", "promo-1"} {
		if !sent[id] {
			t.Errorf("%s was not dispatched", id)
		}
	}
	if len(dispatched) != 3 {
		t.Errorf("dispatched %d, want 3", len(dispatched))
	}
	got := reasonsByID(t, suppressed)
	for id, code := range map[string]string{
		"forged-critical":  "producer_not_allowed",
		"forged-receipt":   "producer_not_allowed",
		"billing-critical": "producer_not_allowed",
		"forged-sender":    "sender_unverified",
		"anonymous":        "sender_unverified",
	} {
		d := got[id]
		if d == nil || len(d.GetReasons()) != 1 || policy.ShortCode(d.GetReasons()[0].GetCode()) != code {
			t.Errorf("%s: %v, want one reason %s", id, d.GetReasons(), code)
		}
	}
	// Nothing refused was counted against the customer.
	ledger, err := h.store.Ledger(context.Background(), "c-1", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ledger {
		if !sent[c.IntentID] {
			t.Errorf("ledger counts %s", c.IntentID)
		}
	}
}

// TestAReplyNeedsTheCustomersContactInTheSameChannelFamily: a customer
// who asked to be left alone wrote in by SMS; a reply by WhatsApp (the same
// phone number) answers it, a reply by email does not.
func TestAReplyNeedsTheCustomersContactInTheSameChannelFamily(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(agentPolicy)
	h.setPrefs("quiet-c", &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING})
	h.startGatekeeper(gatekeeper.Options{})
	h.startInbound()

	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"quiet-c","channel":"sms","threadId":"sms-thread-1"}`),
		nats.Header{"Content-Type": {"application/json"}})
	waitReplyWindow(t, h, "quiet-c", "sms", "sms-thread-1")

	reply := func(id, channel string) *hushv1.ContactIntent {
		it := intent(id, "quiet-c", channel, "marketing")
		it.InReplyTo = "sms-thread-1"
		return it
	}
	h.publishAs("campaigns", reply("by-whatsapp", "whatsapp"))
	h.publishAs("campaigns", reply("by-email", "email"))

	dispatched, suppressed, _ := h.outcomes(2)
	if len(dispatched) != 1 || dispatched[0].Headers().Get(nats.MsgIdHdr) != "by-whatsapp" {
		t.Errorf("dispatched %d; want only the reply in the phone family", len(dispatched))
	}
	got := reasonsByID(t, suppressed)
	if d := got["by-email"]; d == nil || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_DO_NOTHING {
		t.Errorf("by-email: %v, want do_nothing: an SMS opens no email window", d.GetReasons())
	}
}

// waitReplyWindow waits until the customer's contact on channel opened the
// thread's reply window.
func waitReplyWindow(t *testing.T, h *harness, customer, channel, thread string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		until, err := h.store.ReplyWindow(context.Background(), customer, channel, thread)
		if err != nil {
			t.Fatal(err)
		}
		if !until.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reply window for %s's %s thread %s", customer, channel, thread)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
