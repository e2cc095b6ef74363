package prefsapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// consentEnv is newEnv with a policy whose newsletter category requires
// recorded opt-in consent; extra, when set, replaces the default
// policy's "revoke_all: false".
func consentEnv(t *testing.T, extra string) *env {
	t.Helper()
	e := newEnv(t)
	_, doc := testenv.DaytimeDefaultPolicy(t)
	src := strings.Replace(string(doc), "\ncategories:\n", "\ncategories:\n  newsletter:    { class: marketing, requires_consent: true }\n", 1)
	if extra != "" {
		// (the default policy has a consent section: extra sets its revoke_all)
		if !strings.Contains(src, "revoke_all: false") {
			t.Fatal("the default policy no longer says revoke_all: false")
		}
		src = strings.Replace(src, "revoke_all: false", extra, 1)
	}
	pol, err := policy.Parse("consent.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e.pol = pol
	tokens, err := prefsapi.ParseTokens(strings.NewReader("ops-admin " + adminToken + " admin\nagent-7 " + staffToken + " staff\n" +
		"alice " + aliceToken + " customer:alice; bob " + bobToken + " customer:bob\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e.srv = httptest.NewServer(prefsapi.New(prefsapi.Options{Consent: e.consent, JS: e.js, Subjects: e.subjects, Policy: pol,
		Tokens: tokens, MaxBody: 4 << 10}).Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func reasonCode(d *hushv1.Decision) hushv1.ReasonCode {
	if len(d.GetReasons()) == 0 {
		return hushv1.ReasonCode_REASON_CODE_UNSPECIFIED
	}
	return d.GetReasons()[0].GetCode()
}

func TestConsentRequiredUntilRecordedThroughTheAPI(t *testing.T) {
	e := consentEnv(t, "")
	e.startGatekeeper()

	if d := e.decide("nl-1", "alice", "email", "newsletter"); reasonCode(d) != hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED {
		t.Fatalf("newsletter without consent: %v, want consent_required", d)
	}
	// Consent given on the phone, recorded by staff.
	body := `{"category":"newsletter","channel":"email","method":"verbal","wording_version":"nl-2026-10","source":"call-881","given_at":"2026-11-30T09:15:00Z"}`
	p := e.must(200, "POST", "/v1/customers/alice/consents", staffToken, body).prefs(t)
	if len(p.GetConsents()) != 1 || p.GetConsents()[0].GetMethod() != "verbal" {
		t.Fatalf("preferences after the grant: %v", p)
	}
	if d := e.decide("nl-2", "alice", "email", "newsletter"); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("newsletter after consent: %v, want approved", d)
	}
	if d := e.decide("nl-sms", "alice", "sms", "newsletter"); reasonCode(d) != hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED {
		t.Errorf("newsletter by SMS with consent for email only: %v, want consent_required", d)
	}
	// The history shows who gave it, when and how.
	hist := e.history("alice")
	last := hist[len(hist)-1]
	g := last.GetNew().GetConsents()[0]
	if last.GetActor() != "agent-7" || last.GetVia() != "api" || g.GetGivenAt().AsTime().Format("2006-01-02T15:04Z") != "2026-11-30T09:15Z" ||
		g.GetMethod() != "verbal" || g.GetWordingVersion() != "nl-2026-10" || g.GetSource() != "call-881" || g.GetChannel() != "email" {
		t.Errorf("history entry %v", last)
	}

	// Withdrawn by the customer: the next newsletter waits again, and the
	// grant stays on record with when it was withdrawn.
	p = e.must(200, "DELETE", "/v1/customers/alice/consents/newsletter", aliceToken, "").prefs(t)
	if len(p.GetConsents()) != 1 || p.GetConsents()[0].GetWithdrawnAt() == nil {
		t.Fatalf("after the withdrawal: %v", p.GetConsents())
	}
	d := e.decide("nl-3", "alice", "email", "newsletter")
	if reasonCode(d) != hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED || !strings.Contains(d.GetReasons()[0].GetMessage(), "withdrawn") {
		t.Errorf("newsletter after withdrawal: %v", d)
	}
	if hist := e.history("alice"); hist[len(hist)-1].GetActor() != "alice" {
		t.Errorf("withdrawal recorded by %q, want alice", hist[len(hist)-1].GetActor())
	}
}

func TestConsentRequestsAreChecked(t *testing.T) {
	e := consentEnv(t, "")
	ok := `{"category":"newsletter","method":"web_form","wording_version":"v1","source":"signup"}`
	e.must(403, "POST", "/v1/customers/alice/consents", bobToken, ok)
	e.must(403, "DELETE", "/v1/customers/alice/consents/newsletter", bobToken, "")
	for _, tc := range []struct{ body, field string }{
		{`{"category":"nope","method":"web_form","wording_version":"v1","source":"signup"}`, "category"},
		{`{"category":"newsletter","channel":"fax","method":"web_form","wording_version":"v1","source":"signup"}`, "channel"},
		{`{"category":"newsletter","wording_version":"v1","source":"signup"}`, "method"},
		{`{"category":"newsletter","method":"web_form","source":"signup"}`, "wording_version"},
		{`{"category":"newsletter","method":"web_form","wording_version":"v1"}`, "source"},
		{`{"category":"newsletter","method":"web_form","wording_version":"v1","source":"signup","given_at":"2099-01-01T00:00:00Z"}`, "given_at"},
		{`{"category":"newsletter","method":"web_form","wording_version":"v1","source":"signup","colour":"blue"}`, "colour"},
	} {
		if f := e.must(400, "POST", "/v1/customers/alice/consents", aliceToken, tc.body).json(t)["field"]; f != tc.field {
			t.Errorf("%s: field %v, want %s", tc.body, f, tc.field)
		}
	}
	e.must(400, "DELETE", "/v1/customers/alice/consents/nope", aliceToken, "")
	e.must(200, "POST", "/v1/customers/alice/consents", aliceToken, ok)
	// Consent is never written as a plain preference: no proof, no grant.
	forged := `{"consents":[{"category":"marketing","method":"web_form","givenAt":"2026-11-01T00:00:00Z"}]}`
	if f := e.must(400, "PUT", "/v1/customers/alice/preferences", aliceToken, forged).json(t)["field"]; f != "consents" {
		t.Errorf("PUT with consents: field %v", f)
	}
	if f := e.must(400, "PATCH", "/v1/customers/alice/preferences", aliceToken, forged).json(t)["field"]; f != "consents" {
		t.Errorf("PATCH with consents: field %v", f)
	}
	// A PUT without consents keeps those on record.
	p := e.must(200, "PUT", "/v1/customers/alice/preferences", aliceToken, `{"timeZone":"Europe/Paris"}`).prefs(t)
	if len(p.GetConsents()) != 1 {
		t.Errorf("a PUT without consents dropped the grant: %v", p)
	}
}

func TestRevokeAllIsAPolicySetting(t *testing.T) {
	for _, tc := range []struct {
		extra     string
		withdrawn int
	}{
		{"", 1},
		{"revoke_all: true", 2},
	} {
		e := consentEnv(t, tc.extra)
		for _, c := range []string{"newsletter", "marketing"} {
			e.must(200, "POST", "/v1/customers/alice/consents", aliceToken, `{"category":"`+c+`","method":"web_form","wording_version":"v1","source":"signup"}`)
		}
		p := e.must(200, "DELETE", "/v1/customers/alice/consents/newsletter", aliceToken, "").prefs(t)
		n := 0
		for _, g := range p.GetConsents() {
			if g.GetWithdrawnAt() != nil {
				n++
			}
		}
		if n != tc.withdrawn {
			t.Errorf("policy %q: %d grants withdrawn, want %d", tc.extra, n, tc.withdrawn)
		}
	}
}

func TestConsentOnTheChannelLiftsAStop(t *testing.T) {
	e := consentEnv(t, "")
	if _, err := e.consent.Apply(context.Background(), consent.Change{Customer: "alice", Actor: "customer", Via: consent.ViaStopKeyword,
		Mutate: func(p *hushv1.Preferences) error {
			consent.AddRevocation(p, &hushv1.Revocation{Channel: "sms", At: timestamppb.Now(), Via: consent.ViaStopKeyword})
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	p := e.must(200, "POST", "/v1/customers/alice/consents", aliceToken, `{"category":"marketing","channel":"email","method":"web_form","wording_version":"v1","source":"signup"}`).prefs(t)
	if len(p.GetRevocations()) != 1 {
		t.Fatalf("consent on email lifted the SMS STOP: %v", p.GetRevocations())
	}
	p = e.must(200, "POST", "/v1/customers/alice/consents", aliceToken, `{"category":"marketing","channel":"sms","method":"sms_keyword","wording_version":"v1","source":"START"}`).prefs(t)
	if len(p.GetRevocations()) != 0 {
		t.Errorf("consent given again on sms kept the STOP: %v", p.GetRevocations())
	}
}
