package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const digestTestPolicy = `
version: d-1
fallback_time_zone: Europe/Paris
categories:
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
  newsletter:    { class: marketing }
  offers:        { class: marketing }
quiet_hours:
  classes: [service, marketing]
  action: digest
  quiet: ["21:00-08:00"]
caps:
  - { id: daily, scope: customer, window: 24h, max: 5, classes: [service, marketing] }
digest:
  categories: [newsletter]
  at: "18:00"
  max_pending: 4
producers:
  campaigns: { categories: [transactional] }
`

var folded = hushv1.Outcome_OUTCOME_FOLDED

func TestDigestRule(t *testing.T) {
	pol := mustParse(t, digestTestPolicy)
	inParis := &hushv1.Preferences{TimeZone: "Europe/Paris"}
	ownAt := func(at string, cats ...string) *hushv1.Preferences {
		return &hushv1.Preferences{TimeZone: "Europe/Paris", Digest: &hushv1.DigestPreference{Categories: cats, At: at}}
	}
	code := hushv1.ReasonCode_REASON_CODE_FOLDED_INTO_DIGEST
	cases := []struct {
		evalCase
		trigger string
		wake    time.Time
	}{
		{evalCase: evalCase{name: "a policy digest category folds until the policy's time", intent: category("newsletter"), now: paris(13, 0), prefs: inParis,
			outcome: folded, code: code, rule: "digest", releaseAt: paris(18, 0), msg: "newsletter is in the policy's daily digest (18:00 local)"},
			trigger: policy.TriggerSchedule, wake: paris(13, 0)},
		{evalCase: evalCase{name: "after today's time, tomorrow's", intent: category("newsletter"), now: paris(18, 0), prefs: inParis,
			outcome: folded, code: code, rule: "digest", releaseAt: paris(18, 0).AddDate(0, 0, 1)},
			trigger: policy.TriggerSchedule, wake: paris(18, 0)},
		{evalCase: evalCase{name: "the customer's own time wins for their categories", intent: category("newsletter"), now: paris(13, 0), prefs: ownAt("19:30", "newsletter"),
			outcome: folded, code: code, rule: "digest", releaseAt: paris(19, 30), msg: "the customer's daily digest (19:30 local)"},
			trigger: policy.TriggerSchedule, wake: paris(13, 0)},
		{evalCase: evalCase{name: "a customer's time inside quiet hours is moved to their end", intent: category("offers"), now: paris(13, 0), prefs: ownAt("22:00", "offers"),
			outcome: folded, code: code, rule: "digest", releaseAt: paris(8, 0).AddDate(0, 0, 1)},
			trigger: policy.TriggerSchedule, wake: paris(13, 0)},
		{evalCase: evalCase{name: "folded in quiet hours: a full digest waits for them to end", intent: category("newsletter"), now: paris(23, 0), prefs: inParis,
			outcome: folded, code: code, rule: "digest", releaseAt: paris(18, 0).AddDate(0, 0, 1)},
			trigger: policy.TriggerSchedule, wake: paris(8, 0).AddDate(0, 0, 1)},
		{evalCase: evalCase{name: "quiet hours with action digest fold and release at wake", intent: category("marketing"), now: paris(23, 0), prefs: inParis,
			outcome: folded, code: code, rule: "quiet_hours", releaseAt: paris(8, 0).AddDate(0, 0, 1), msg: "folded into the digest released when they end"},
			trigger: policy.TriggerWake, wake: paris(8, 0).AddDate(0, 0, 1)},
		// the worked example of docs/policy.md ("One summary a day")
		{evalCase: evalCase{name: "worked example: offers at 10:00 in Paris", intent: category("offers"), now: paris(10, 0), prefs: ownAt("19:30", "offers"),
			outcome: folded, code: code, rule: "digest", releaseAt: paris(19, 30),
			msg: "offers is in the customer's daily digest (19:30 local); folded into the email digest released at 2026-11-23T18:30Z"},
			trigger: policy.TriggerSchedule, wake: paris(10, 0)},
		{evalCase: evalCase{name: "worked example: a newsletter at 11:00 wants the policy's 18:00", intent: category("newsletter"), now: paris(11, 0), prefs: ownAt("19:30", "offers"),
			outcome: folded, code: code, rule: "digest", releaseAt: paris(18, 0)},
			trigger: policy.TriggerSchedule, wake: paris(11, 0)},
		{evalCase: evalCase{name: "outside quiet hours and digests, approved", intent: category("marketing"), now: paris(13, 0), prefs: inParis,
			outcome: approved, caps: []string{"cap.daily"}}},
		{evalCase: evalCase{name: "transactional is never folded", intent: category("transactional"), now: paris(13, 0), prefs: ownAt("19:30", "transactional"),
			outcome: approved}},
		{evalCase: evalCase{name: "a deadline before the release: decided alone", intent: set(category("newsletter"), notAfter(paris(17, 0))), now: paris(13, 0), prefs: inParis,
			outcome: approved, caps: []string{"cap.daily"}}},
		{evalCase: evalCase{name: "a reply is never folded", intent: set(category("newsletter"), replyTo("t-1")), reply: paris(14, 0), now: paris(13, 0), prefs: inParis,
			outcome: approved, caps: []string{"cap.daily"}}},
		{evalCase: evalCase{name: "an opt-out decides before the digest", intent: category("newsletter"), now: paris(13, 0),
			prefs: &hushv1.Preferences{OptedOutCategories: []string{"newsletter"}}, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_CATEGORY_OPTED_OUT, rule: "opt_out.category"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkEval(t, pol, c.evalCase)
			it := baseIntent()
			c.intent(it)
			v := pol.Evaluate(policy.Input{Intent: it, Prefs: c.prefs, Now: c.now, ReplyUntil: c.reply})
			if v.Digest.Trigger != c.trigger || !v.Digest.WakeAt.Equal(c.wake) {
				t.Errorf("digest %+v, want trigger %q, wake %v", v.Digest, c.trigger, c.wake)
			}
			if c.outcome == folded && (v.Digest.Max != 4 || len(v.Caps) != 0) {
				t.Errorf("a fold: max %d, caps %v; want 4 and none (counted at release)", v.Digest.Max, v.Caps)
			}
		})
	}
}

func TestReleasedDigestIsDecidedAsOneContact(t *testing.T) {
	pol := mustParse(t, digestTestPolicy)
	folded := []*hushv1.ContactIntent{{Id: "n-1", Category: "newsletter", Sender: &hushv1.Sender{Service: "news"}}, {Id: "o-1", Category: "offers"}}
	it := policy.DigestIntent("dg:c:email:1", "c", "email", folded)
	if it.GetCategory() != "newsletter" || it.GetSender().GetService() != "news" || it.GetId() != "dg:c:email:1" {
		t.Fatalf("digest intent %v", it)
	}
	// in quiet hours, in a digest category: neither folded again nor held
	v := pol.Evaluate(policy.Input{Intent: it, Now: paris(23, 0), Digest: true})
	if !v.Approved() || len(v.Caps) != 1 {
		t.Fatalf("released digest: %v %+v; want approved with its caps", v.Outcome, v.Reason)
	}
	v = pol.Evaluate(policy.Input{Intent: it, Now: paris(13, 0), Digest: true, Prefs: &hushv1.Preferences{OptedOutChannels: []string{"email"}}})
	if v.Outcome != suppressed || v.Reason.Rule != policy.RuleOptOut {
		t.Fatalf("a digest for a customer who opted out meanwhile: %v %+v", v.Outcome, v.Reason)
	}
}

func TestDigestSchemaErrors(t *testing.T) {
	head := "version: x\ncategories:\n  receipt: { class: transactional }\n  news: { class: marketing }\n"
	for _, c := range []struct{ name, doc, want string }{
		{"transactional", head + "digest:\n  categories: [receipt]\n", "x.yaml:6: digest.categories[0]: receipt contacts are transactional and never wait for a digest"},
		{"unknown", head + "digest:\n  categories: [nope]\n", `x.yaml:6: digest.categories[0]: unknown category "nope"`},
		{"bad time", head + "digest:\n  at: \"25:00\"\n", `x.yaml:6: digest.at: want HH:MM`},
		{"max", head + "digest:\n  max_pending: 5000\n", `x.yaml:6: digest.max_pending: want 1 to 1000`},
		{"quiet action", head + "quiet_hours:\n  action: fold\n", `x.yaml:6: quiet_hours.action: want defer, suppress or digest`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse("x.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
	pol := mustParse(t, digestTestPolicy)
	for _, d := range []*hushv1.DigestPreference{{At: "7:00", Categories: []string{"offers"}}, {At: "07:00", Categories: []string{"transactional"}}, {At: "07:00"}} {
		if pol.ValidateDigest(d) == nil {
			t.Errorf("ValidateDigest(%v) accepts it", d)
		}
	}
	if err := pol.ValidateDigest(&hushv1.DigestPreference{At: "07:00", Categories: []string{"offers"}}); err != nil {
		t.Error(err)
	}
}
