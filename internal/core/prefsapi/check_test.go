package prefsapi_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// checkBody is a JSON CheckRequest for one marketing intent of campaigns.
func checkBody(id, customer, channel string) string {
	return fmt.Sprintf(`{"intents":[{"id":%q,"customerId":%q,"channel":%q,"category":"marketing","topic":"news","sender":{"service":"campaigns"}}]}`,
		id, customer, channel)
}

// TestCheckOverHTTPAnswersWhatTheGateThenDecides asks POST /v1/check about
// an intent, then publishes the same intent to the real gatekeeper: the
// answer is the decision, through an opt-out and until a cap suppresses,
// with next_allowed_at. The check itself decides and counts nothing.
func TestCheckOverHTTPAnswersWhatTheGateThenDecides(t *testing.T) {
	e := newEnv(t)
	e.startGatekeeper()
	e.must(200, "PATCH", "/v1/customers/alice/preferences", aliceToken, `{"optedOutChannels":["sms"]}`)

	ask := func(id, customer, channel string) *hushv1.CheckAnswer {
		t.Helper()
		r := e.must(200, "POST", "/v1/check", campaignsToken, checkBody(id, customer, channel))
		if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var out hushv1.CheckResponse
		if err := protojson.Unmarshal([]byte(r.body), &out); err != nil || len(out.GetAnswers()) != 1 {
			t.Fatalf("check answered %s (%v)", r.body, err)
		}
		return out.GetAnswers()[0]
	}
	same := func(a *hushv1.CheckAnswer, d *hushv1.Decision) {
		t.Helper()
		if want := store.Answer(d); !proto.Equal(a, want) {
			t.Errorf("check answered %s, the gate decided %s", store.ShortAnswer(a), store.ShortAnswer(want))
		}
	}
	a := ask("h-sms", "alice", "sms")
	if a.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || a.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_OPTED_OUT {
		t.Errorf("alice opted out of sms: %s", store.ShortAnswer(a))
	}
	same(a, e.decide("h-sms", "alice", "sms", "marketing"))

	capped := false
	for i := range 12 {
		id := fmt.Sprint("h-", i)
		a := ask(id, "bob", "email")
		if d, _ := e.store.Decision(t.Context(), "bob", id); d != nil {
			t.Fatalf("the check recorded a decision: %v", d)
		}
		same(a, e.decide(id, "bob", "email", "marketing"))
		if a.GetOutcome() == hushv1.Outcome_OUTCOME_SUPPRESSED {
			if a.GetNextAllowedAt() == nil {
				t.Errorf("a cap suppression without next_allowed_at: %s", store.ShortAnswer(a))
			}
			capped = true
			break
		}
	}
	if !capped {
		t.Error("no cap suppressed bob's marketing emails: the test did not reach what it is about")
	}
}

// TestCheckOverHTTPSpeaksProtobufAndRefusesOthers: binary protobuf in,
// binary protobuf out; only producer (and admin) tokens may ask.
func TestCheckOverHTTPSpeaksProtobufAndRefusesOthers(t *testing.T) {
	e := newEnv(t)
	req, _ := proto.Marshal(&hushv1.CheckRequest{Intents: []*hushv1.ContactIntent{
		{Id: "p-1", CustomerId: "carol", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "campaigns"}},
		{Id: "p-2", CustomerId: "carol", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "someone-else"}},
		{Id: "p-3", CustomerId: "carol", Channel: "fax", Category: "marketing", Sender: &hushv1.Sender{Service: "campaigns"}},
	}})
	r := e.must(200, "POST", "/v1/check", campaignsToken, string(req), "Content-Type", "application/protobuf")
	var out hushv1.CheckResponse
	if err := proto.Unmarshal([]byte(r.body), &out); err != nil || r.hdr.Get("Content-Type") != "application/protobuf" || len(out.GetAnswers()) != 3 {
		t.Fatalf("protobuf answer %q: %v", r.body, err)
	}
	want := []string{"approved", "suppressed sender_unverified", "invalid: invalid intent: channel: unknown channel"}
	for i, a := range out.GetAnswers() {
		if !strings.HasPrefix(store.ShortAnswer(a), want[i]) || a.GetIntentId() != fmt.Sprint("p-", i+1) {
			t.Errorf("answer %d: %s, want %s…", i, store.ShortAnswer(a), want[i])
		}
	}
	body := checkBody("x", "carol", "email")
	e.must(401, "POST", "/v1/check", "", body)
	e.must(403, "POST", "/v1/check", staffToken, body)
	e.must(403, "POST", "/v1/check", aliceToken, body)
	e.must(200, "POST", "/v1/check", adminToken, body)
	e.must(400, "POST", "/v1/check", campaignsToken, `{"intents":[{"nope":1}]}`)
	e.must(200, "POST", "/v1/check", campaignsToken, body, "Content-Type", "application/x-www-form-urlencoded") // curl -d
}

// TestCheckAnswersWithThePolicyInForce: the service's own --policy answers
// until the gatekeepers publish theirs, then theirs does, each version
// parsed once.
func TestCheckAnswersWithThePolicyInForce(t *testing.T) {
	e := newEnv(t)
	f := &prefsapi.InForce{JS: e.js, Subjects: e.subjects, Fallback: e.pol}
	if got := f.Policy(t.Context()); got != e.pol {
		t.Fatalf("nothing published: %v, want the fallback", got.Version)
	}
	// The gatekeepers run a policy without a marketing category.
	if err := bus.PublishPolicy(t.Context(), e.js, e.subjects, "gk-7", []byte("version: gk-7\ncategories:\n  service: { class: service }\n"), 1); err != nil {
		t.Fatal(err)
	}
	p := f.Policy(t.Context())
	if p.Version != "gk-7" || f.Policy(t.Context()) != p {
		t.Fatalf("in force: %v, want gk-7, parsed once", p.Version)
	}
	answers, err := e.store.Check(t.Context(), store.CheckOptions{Policy: p}, []*hushv1.ContactIntent{
		{Id: "k-1", CustomerId: "carol", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "campaigns"}}})
	if err != nil || answers[0].GetOutcome() != hushv1.Outcome_OUTCOME_INVALID {
		t.Errorf("marketing under gk-7: %v (%v), want invalid", answers, err)
	}
}
