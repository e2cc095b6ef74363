package gatekeeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const regFPolicy = `
version: packs-1
categories:
  collections: { class: service }
  canvassing:  { class: marketing }
packs:
  - { name: us-reg-f, categories: [collections] }
  - { name: fr-demarchage, categories: [canvassing] }
`

// TestRegulationPackDecidesEndToEnd runs Regulation F and the French
// canvassing rules on real NATS and Redis: a telephone conversation about a
// debt, published as an inbound contact, closes calls about that debt (12
// CFR 1006.14(b)(2)(i)(B)), not texts nor calls about another debt, and the
// eighth call about that other debt is refused (1006.14(b)(2)(i)(A)); a
// refusal closes canvassing calls for 60 days (C. consom. art. D. 223-9),
// even for a customer whose consent lifts the calling days and hours.
// Every refusal names the pack, its version and the section.
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
	h.setPrefs("client-fr", &hushv1.Preferences{TimeZone: "Europe/Paris", Region: "FR", Consents: []*hushv1.ConsentGrant{
		{Category: "canvassing", Channel: "voice", Method: "web_form", GivenAt: timestamppb.New(noon.AddDate(0, -1, 0))}}})
	h.startGatekeeper(gatekeeper.Options{Now: func() time.Time { return noon }})
	h.startInbound()

	for _, ev := range []struct{ customer, kind, subject string }{{"debtor-1", "conversation", "debt-1"}, {"client-fr", "refusal", ""}} {
		h.publishRaw("hush.inbound.voice", fmt.Appendf(nil,
			`{"customerId":%q,"channel":"voice","threadId":"call-1","kind":%q,"subjectRef":%q,"receivedAt":%q}`,
			ev.customer, ev.kind, ev.subject, noon.Add(-time.Hour).UTC().Format(time.RFC3339)), nats.Header{"Content-Type": {"application/json"}})
		deadline := time.Now().Add(30 * time.Second)
		for {
			evs, err := h.store.Events(context.Background(), ev.customer, noon.Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 1 {
				if evs[0].Kind != ev.kind || evs[0].Subject != ev.subject {
					t.Fatalf("event %+v", evs[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s event recorded", ev.kind)
			}
			time.Sleep(10 * time.Millisecond)
		}
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
	h.publish(intent("after-refusal", "client-fr", "voice", "canvassing"))
	dispatched, suppressed, dead := h.outcomes(11)
	if len(dispatched) != 8 || len(suppressed) != 3 || len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead %d; want 8 (the text, 7 calls about debt-2), 3, 0", len(dispatched), len(suppressed), len(dead))
	}
	got := reasonsByID(t, suppressed)
	if d := got["after-conversation"]; d == nil || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_COOLDOWN ||
		d.GetReasons()[0].GetSection() != "12 CFR 1006.14(b)(2)(i)(B)" {
		t.Errorf("the call after the conversation: %v", d.GetReasons())
	}
	if d := got["after-refusal"]; d == nil || d.GetReasons()[0].GetRule() != "fr-demarchage.after-refusal" ||
		d.GetReasons()[0].GetPack() != "fr-demarchage" || d.GetReasons()[0].GetSection() != "C. consom. art. D. 223-9, al. 3" {
		t.Errorf("the call after the refusal: %v", d.GetReasons())
	}
	for id, d := range got {
		if id == "after-conversation" || id == "after-refusal" {
			continue
		}
		r := d.GetReasons()[0]
		if r.GetRule() != "us-reg-f.call-frequency" || r.GetSection() != "12 CFR 1006.14(b)(2)(i)(A)" || r.GetPack() != "us-reg-f" || r.GetPackVersion() == "" {
			t.Errorf("%s: %v, want the 8th call refused by 1006.14(b)(2)(i)(A)", id, r)
		}
	}
}
