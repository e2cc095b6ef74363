package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// FuzzParse feeds the loader arbitrary documents: it must never panic, every
// refusal must name the file, and every policy it accepts must evaluate.
func FuzzParse(f *testing.F) {
	f.Add(policyfiles.Default)
	f.Add([]byte(testPolicy))
	f.Add([]byte("version: v\ncategories:\n  m: { class: marketing }\nquiet_hours:\n  quiet: [\"23:59-00:00\", \"00:00-00:01\"]\n"))
	f.Add([]byte("version: v\ncategories:\n  m: { class: marketing }\ncaps:\n  - { id: a, scope: topic, window: 1d, max: 1, classes: [marketing] }\n"))
	f.Add([]byte("version: v\ncategories: {m: {class: marketing}}\nquiet_hours: {regions: {US: {allowed: \"08:00-21:00\"}}}\nunsolicited: {agent: {window: 99999999999d, max: 1}}\n"))
	f.Add([]byte("version: v\ncategories:\n  m: { class: marketing }\npacks:\n  - { name: fr-demarchage, categories: [m] }\n  - { name: us-reg-f, mode: shadow, categories: [m] }\n"))
	f.Add([]byte("{"))
	f.Add([]byte("- a\n- b\n"))
	times := []time.Time{noon, paris(23, 0), paris(7, 59)}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := policy.Parse("f.yaml", doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p.Version == "" || p.FallbackZone == nil || p.DecisionRetention <= 0 || p.LedgerRetention <= 0 || p.ReplyWindow <= 0 {
			t.Fatalf("accepted an incomplete policy: %+v", p)
		}
		for _, c := range p.Caps() {
			if c.Max < 1 || c.Window < time.Second {
				t.Fatalf("accepted an impossible cap %+v", c)
			}
		}
		it := baseIntent()
		for cat := range strings.SplitSeq("marketing m critical", " ") {
			it.Category = cat
			for _, now := range times {
				v := p.Evaluate(policy.Input{Intent: it, Now: now, Prefs: &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-FL"}})
				if v.Outcome == hushv1.Outcome_OUTCOME_DEFERRED && !v.ReleaseAt.After(now) {
					t.Fatalf("deferred to %v, not after %v", v.ReleaseAt, now)
				}
			}
		}
	})
}

// FuzzValidate feeds intent validation arbitrary wire bytes: it must never
// panic, every refusal must wrap ErrInvalid, and every intent it accepts
// must evaluate under arbitrary preferences.
func FuzzValidate(f *testing.F) {
	seed := func(it *hushv1.ContactIntent, subject string) {
		b, err := proto.Marshal(it)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, subject, []byte(nil))
	}
	seed(baseIntent(), "email")
	a := baseIntent()
	a.Initiator, a.Sender.AgentId, a.InReplyTo, a.Purpose, a.Destination = "agent", "agent-7", "t-1", "renewal", "x@example.com"
	seed(a, "email")
	b := baseIntent()
	b.Id = "has space{}"
	seed(b, "sms")
	prefs, _ := proto.Marshal(&hushv1.Preferences{TimeZone: "Europe/Paris", QuietHours: &hushv1.QuietHours{Start: "01:00", End: "02:30"}, Mode: hushv1.Mode_MODE_DO_NOTHING})
	f.Add([]byte{}, "email", prefs)

	pol, err := policy.Parse("test.yaml", []byte(testPolicy))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, subject string, prefsData []byte) {
		it := new(hushv1.ContactIntent)
		if proto.Unmarshal(data, it) != nil {
			return
		}
		if err := pol.Validate(it, subject); err != nil {
			if !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if it.GetId() == "" || it.GetCustomerId() == "" || strings.ContainsAny(it.GetId()+it.GetCustomerId(), "{} \n") {
			t.Fatalf("accepted an intent with unusable ids: %q %q", it.GetId(), it.GetCustomerId())
		}
		var p *hushv1.Preferences
		if q := new(hushv1.Preferences); proto.Unmarshal(prefsData, q) == nil {
			p = q
		}
		v := pol.Evaluate(policy.Input{Intent: it, Prefs: p, Now: noon, ReplyUntil: noon.Add(time.Hour)})
		if v.Outcome == hushv1.Outcome_OUTCOME_DEFERRED && !v.ReleaseAt.After(noon) {
			t.Fatalf("deferred to %v", v.ReleaseAt)
		}
		if !v.Approved() && len(v.Caps) > 0 {
			t.Fatal("a suppression carries cap checks")
		}
	})
}

// FuzzValidateInbound does the same for customers' inbound contacts.
func FuzzValidateInbound(f *testing.F) {
	b, _ := proto.Marshal(&hushv1.InboundContact{CustomerId: "c-1", Channel: "email", ThreadId: "t-1"})
	f.Add(b, "email")
	f.Add([]byte{0x0a, 0x01, '{'}, "sms")
	f.Fuzz(func(t *testing.T, data []byte, subject string) {
		in := new(hushv1.InboundContact)
		if proto.Unmarshal(data, in) != nil {
			return
		}
		if err := policy.ValidateInbound(in, subject); err != nil && !errors.Is(err, policy.ErrInvalid) {
			t.Fatalf("refusal does not wrap ErrInvalid: %v", err)
		}
	})
}
