package gatekeeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const regFPolicy = `
version: packs-1
categories:
  collections: { class: service }
  marketing:   { class: marketing }
packs:
  - { name: us-reg-f, categories: [collections] }
`

// TestRegulationPackDecidesEndToEnd runs Regulation F on real NATS and
// Redis: a telephone conversation about a debt, published as an inbound
// contact, closes calls about that debt (12 CFR 1006.14(b)(2)(i)(B)), not
// texts nor calls about another debt, and the eighth call about that other
// debt is refused (1006.14(b)(2)(i)(A)); every refusal names the pack, its
// version and the section.
func TestRegulationPackDecidesEndToEnd(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// The decisions happen at noon in New York today (or yesterday, before
	// noon), inside the hours 1006.6(b)(1) allows.
	now := time.Now().In(ny)
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, ny)
	if noon.After(now) {
		noon = noon.AddDate(0, 0, -1)
	}

	h := newHarness(t)
	h.usePolicy(regFPolicy)
	h.setPrefs("debtor-1", &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-NY"})
	h.startGatekeeper(gatekeeper.Options{Now: func() time.Time { return noon }})
	h.startInbound()

	h.publishRaw("hush.inbound.voice", fmt.Appendf(nil,
		`{"customerId":"debtor-1","channel":"voice","threadId":"call-1","kind":"conversation","subjectRef":"debt-1","receivedAt":%q}`,
		noon.Add(-time.Hour).UTC().Format(time.RFC3339)), nats.Header{"Content-Type": {"application/json"}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := h.store.Events(context.Background(), "debtor-1", noon.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 {
			if evs[0].Kind != "conversation" || evs[0].Subject != "debt-1" {
				t.Fatalf("event %+v", evs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no event recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}

	call := func(id, channel, debt string) *hushv1.ContactIntent {
		it := intent(id, "debtor-1", channel, "collections")
		it.SubjectRef = debt
		return it
	}
	h.publish(call("after-conversation", "voice", "debt-1"))
	h.publish(call("text", "sms", "debt-1"))
	for i := range 8 {
		h.publish(call(fmt.Sprint("other-debt-", i), "voice", "debt-2"))
	}
	dispatched, suppressed, dead := h.outcomes(10)
	if len(dispatched) != 8 || len(suppressed) != 2 || len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead %d; want 8 (the text, 7 calls about debt-2), 2, 0", len(dispatched), len(suppressed), len(dead))
	}
	got := reasonsByID(t, suppressed)
	if d := got["after-conversation"]; d == nil || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_COOLDOWN ||
		d.GetReasons()[0].GetSection() != "12 CFR 1006.14(b)(2)(i)(B)" {
		t.Errorf("the call after the conversation: %v", d.GetReasons())
	}
	for id, d := range got {
		if id == "after-conversation" {
			continue
		}
		r := d.GetReasons()[0]
		if r.GetRule() != "us-reg-f.call-frequency" || r.GetSection() != "12 CFR 1006.14(b)(2)(i)(A)" || r.GetPack() != "us-reg-f" || r.GetPackVersion() == "" {
			t.Errorf("%s: %v, want the 8th call refused by 1006.14(b)(2)(i)(A)", id, r)
		}
	}
}
