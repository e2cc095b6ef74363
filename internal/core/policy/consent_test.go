package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func grant(category, channel string, given time.Time) *hushv1.ConsentGrant {
	return &hushv1.ConsentGrant{Category: category, Channel: channel, GivenAt: ts(given), Method: "web_form", WordingVersion: "v3", Source: "form-12"}
}

func withConsents(g ...*hushv1.ConsentGrant) *hushv1.Preferences {
	return &hushv1.Preferences{Consents: g}
}

func TestConsentRequired(t *testing.T) {
	pol := mustParse(t, testPolicy)
	newsletter := category("newsletter")
	withdrawn := grant("newsletter", "", noon.Add(-48*time.Hour))
	withdrawn.WithdrawnAt = ts(noon.Add(-time.Hour))
	later := grant("newsletter", "", noon.Add(-48*time.Hour))
	later.WithdrawnAt = ts(noon.Add(time.Hour))
	debt := grant("newsletter", "", noon.Add(-time.Hour))
	debt.SubjectRef = "debt-1"
	want := func(name string, intent func(*hushv1.ContactIntent), prefs *hushv1.Preferences, msg string) evalCase {
		return evalCase{name: name, intent: intent, prefs: prefs, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED, rule: policy.RuleConsentRequired, msg: msg}
	}
	pass := func(name string, intent func(*hushv1.ContactIntent), prefs *hushv1.Preferences) evalCase {
		return evalCase{name: name, intent: intent, prefs: prefs, outcome: approved, caps: mktCaps}
	}
	cases := []evalCase{
		want("no preferences: no consent", newsletter, nil, "none is recorded"),
		want("a grant of another category", newsletter, withConsents(grant("marketing", "", noon.Add(-time.Hour))), "none is recorded"),
		want("a grant on another channel", newsletter, withConsents(grant("newsletter", "sms", noon.Add(-time.Hour))), "on email"),
		want("a grant given later than now", newsletter, withConsents(grant("newsletter", "", noon.Add(time.Minute))), "none is recorded"),
		want("a grant without a time is no proof", newsletter, withConsents(&hushv1.ConsentGrant{Category: "newsletter", Method: "web_form"}), "none is recorded"),
		want("a withdrawn grant", newsletter, withConsents(withdrawn), "withdrawn 2026-11-23T11:00Z"),
		want("a grant for one subject does not cover another", set(newsletter, func(it *hushv1.ContactIntent) { it.SubjectRef = "debt-2" }), withConsents(debt), ""),
		pass("a grant of the category on any channel", newsletter, withConsents(grant("newsletter", "", noon.Add(-time.Hour)))),
		pass("a grant of the category on the channel", newsletter, withConsents(grant("newsletter", "email", noon.Add(-time.Hour)))),
		pass("a channel grant with no category covers every category", newsletter, withConsents(grant("", "email", noon.Add(-time.Hour)))),
		pass("a grant withdrawn in the future still holds", newsletter, withConsents(later)),
		pass("a grant for the subject covers it", set(newsletter, func(it *hushv1.ContactIntent) { it.SubjectRef = "debt-1" }), withConsents(debt)),
		pass("a category that requires nothing", nil, nil),
		{name: "critical never waits for consent", intent: category("critical"), outcome: approved},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkEval(t, pol, c) })
	}
}

func TestStopKeywordRule(t *testing.T) {
	pol := mustParse(t, testPolicy)
	sms := channel("sms")
	confirm := set(sms, category("stop_confirmation"))
	stop := func(name string, intent func(*hushv1.ContactIntent), prefs *hushv1.Preferences, now time.Time, msg string) evalCase {
		return evalCase{name: name, intent: intent, prefs: prefs, now: now, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD, rule: policy.RuleStopKeyword, msg: msg}
	}
	cases := []evalCase{
		stop("company-wide STOP stops every sender", set(sms, sentBy("billing")), stopped("sms", "", noon.Add(-time.Hour)), noon, "from the whole company (stop keyword) 2026-11-23T11:00Z"),
		stop("a STOP to a service stops that service", sms, stopped("sms", "campaigns", noon.Add(-time.Hour)), noon, "from campaigns"),
		stop("a STOP stops transactional contacts too", set(sms, category("transactional")), stopped("sms", "", noon.Add(-time.Hour)), noon, "revoked sms"),
		stop("the confirmation after its 5 minutes", confirm, stopped("sms", "", noon.Add(-5*time.Minute)), noon, "revoked sms"),
		stop("a confirmation with no STOP to confirm", confirm, nil, noon, "the customer sent none on sms in the last 5 minutes"),
		stop("a confirmation on another channel than the STOP", set(confirm, channel("voice")), stopped("sms", "", noon.Add(-time.Minute)), noon, "sent none on voice"),
		{name: "a STOP to another service leaves this one", intent: set(sms, sentBy("billing")), prefs: stopped("sms", "campaigns", noon.Add(-time.Hour)),
			outcome: approved, caps: mktCaps},
		{name: "a STOP on sms leaves email", prefs: stopped("sms", "", noon.Add(-time.Hour)), outcome: approved, caps: mktCaps},
		{name: "the confirmation at the instant of the STOP", intent: confirm, prefs: stopped("sms", "", noon), outcome: approved,
			caps: []string{policy.RuleStopConfirmation}},
		{name: "a confirmation from a producer not granted the category", intent: set(confirm, sentBy("newsletters")), prefs: stopped("sms", "", noon.Add(-time.Minute)),
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED, rule: policy.RuleProducerCategory, msg: "stop_confirmation"},
		{name: "critical passes a STOP", intent: set(sms, category("critical")), prefs: stopped("sms", "", noon.Add(-time.Hour)), outcome: approved},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkEval(t, pol, c) })
	}
}

func TestStopConfirmationCountsOneSinceTheStop(t *testing.T) {
	pol := mustParse(t, testPolicy)
	it := baseIntent()
	it.Channel, it.Category = "sms", "stop_confirmation"
	at := noon.Add(-90 * time.Second)
	v := pol.Evaluate(policy.Input{Intent: it, Prefs: stopped("sms", "", at), Now: noon})
	if len(v.Caps) != 1 {
		t.Fatalf("caps %+v, want the confirmation check", v.Caps)
	}
	c := v.Caps[0]
	want := policy.CapCheck{Rule: policy.RuleStopConfirmation, Scope: policy.ScopeCategory, Value: "stop_confirmation",
		Window: 90*time.Second + time.Millisecond, Max: 1, Code: hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD}
	if c != want {
		t.Errorf("check %+v\nwant  %+v", c, want)
	}
	if !v.Capped() {
		t.Error("a transactional confirmation must be counted where its check reads")
	}
	if msg := policy.CapMessage(c, 1, noon); !strings.Contains(msg, "one confirmation") {
		t.Errorf("message %q", msg)
	}
}

func TestMatchStop(t *testing.T) {
	pol := mustParse(t, testPolicy+`
`)
	multi := mustParse(t, strings.Replace(testPolicy, "consent:\n  stop:\n", `consent:
  stop:
    channels: [sms, whatsapp]
    keywords:
      fr: [stop, arrêt, arret, désabonner]
      es: [alto, baja, cancelar]
`, 1))
	for _, tc := range []struct {
		pol           *policy.Policy
		channel, body string
		lang          string
		ok            bool
	}{
		{pol, "sms", "STOP", "en", true},
		{pol, "sms", "  Stop.  ", "en", true},
		{pol, "sms", "opt out", "en", true},
		{pol, "sms", "Opt-Out!", "en", true},
		{pol, "sms", "OPTOUT", "en", true},
		{pol, "sms", "un subscribe", "en", true},
		{pol, "sms", "please stop", "", false},
		{pol, "sms", "stopp", "", false},
		{pol, "sms", "", "", false},
		{pol, "email", "stop", "", false},
		{pol, "whatsapp", "stop", "", false},
		{pol, "sms", strings.Repeat(" ", 200) + "stop", "", false},
		{multi, "whatsapp", "Arrêt", "fr", true},
		{multi, "sms", "ALTO", "es", true},
		{multi, "sms", "cancelar", "es", true},
		{multi, "sms", "stop", "en", true}, // in en and fr: the first language in order names it
		{multi, "sms", "cancel", "en", true},
	} {
		lang, ok := tc.pol.MatchStop(tc.channel, tc.body)
		if lang != tc.lang || ok != tc.ok {
			t.Errorf("MatchStop(%q, %q) = %q, %v; want %q, %v", tc.channel, tc.body, lang, ok, tc.lang, tc.ok)
		}
	}
}

func TestHonourByCountsBusinessDays(t *testing.T) {
	pol := mustParse(t, testPolicy)
	for _, tc := range []struct{ at, want time.Time }{
		// Monday 23 Nov 2026 + 10 business days: Monday 7 Dec.
		{noon, time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)},
		// Saturday 28 Nov: the days start counting on Monday; Friday 11 Dec.
		{time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 11, 9, 0, 0, 0, time.UTC)},
		// Friday 27 Nov: Friday 11 Dec.
		{time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), time.Date(2026, 12, 11, 9, 0, 0, 0, time.UTC)},
	} {
		if got := pol.HonourBy(tc.at); !got.Equal(tc.want) {
			t.Errorf("HonourBy(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if got := mustParse(t, strings.Replace(testPolicy, "  stop:\n", "  stop:\n    honour_business_days: 0\n", 1)).HonourBy(noon); !got.Equal(noon) {
		t.Errorf("0 business days: %v", got)
	}
}

func TestConsentSectionErrors(t *testing.T) {
	base := `version: v
categories:
  marketing: { class: marketing }
  critical:  { class: critical }
  conf:      { class: transactional }
  svc:       { class: service }
  svc-r:     { class: service, restricted: true }
`
	for _, tc := range []struct{ name, doc, want string }{
		{"critical requiring consent", strings.Replace(base, "{ class: critical }", "{ class: critical, requires_consent: true }", 1),
			"test.yaml:4: categories.critical.requires_consent: critical contacts never wait for consent"},
		{"unknown channel", base + "consent:\n  stop:\n    channels: [fax]\n", "test.yaml:10: consent.stop.channels[0]: unknown channel"},
		{"bad language", base + "consent:\n  stop:\n    keywords:\n      French: [stop]\n", "test.yaml:11: consent.stop.keywords.French: want a language code"},
		{"empty list", base + "consent:\n  stop:\n    keywords:\n      fr: []\n", "consent.stop.keywords.fr: required: at least one keyword"},
		{"keyword of punctuation", base + "consent:\n  stop:\n    keywords:\n      fr: [\"!!\"]\n", "consent.stop.keywords.fr[0]: keyword \"!!\" has no letters"},
		{"unknown confirmation", base + "consent:\n  stop:\n    confirmation: { category: nope }\n", "consent.stop.confirmation.category: unknown category \"nope\""},
		{"critical confirmation", base + "consent:\n  stop:\n    confirmation: { category: critical }\n", "consent.stop.confirmation.category: a critical category bypasses"},
		{"unrestricted confirmation", base + "consent:\n  stop:\n    confirmation: { category: svc }\n", "consent.stop.confirmation.category: the confirmation category must be restricted"},
		{"too long after", base + "consent:\n  stop:\n    confirmation: { category: conf, within: 10m }\n", "consent.stop.confirmation.within: at most 5m"},
		{"honour deadline", base + "consent:\n  stop:\n    honour_business_days: 45\n", "consent.stop.honour_business_days: want 0 to 30"},
		{"revoke_all not a bool", base + "consent:\n  revoke_all: sometimes\n", "test.yaml:9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("test.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{
		base,
		base + "consent:\n  revoke_all: true\n  stop:\n    confirmation: { category: conf }\n",
		base + "consent:\n  stop:\n    confirmation: { category: svc-r, within: 2m }\n",
	} {
		p, err := policy.Parse("test.yaml", []byte(ok))
		if err != nil {
			t.Errorf("%v\n%s", err, ok)
			continue
		}
		if strings.Contains(ok, "revoke_all: true") != p.RevokeAll() {
			t.Errorf("RevokeAll %v for\n%s", p.RevokeAll(), ok)
		}
	}
}
