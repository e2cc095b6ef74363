package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const testPolicy = `
version: t-1
fallback_time_zone: Europe/Paris
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
  survey:        { class: marketing }
  newsletter:    { class: marketing, requires_consent: true }
  stop_confirmation: { class: transactional }
quiet_hours:
  classes: [service, marketing]
  action: defer
  quiet: ["21:00-08:00"]
  regions:
    US:    { allowed: "08:00-21:00" }
    US-FL: { allowed: "08:00-20:00", action: suppress }
unsolicited:
  customer: { window: 14d, max: 1 }
  agent:    { window: 24h, max: 20 }
caps:
  - { id: daily,      scope: customer, window: 24h, max: 5, classes: [service, marketing] }
  - { id: mkt-weekly, scope: category, window: 7d,  max: 3, classes: [marketing] }
  - { id: cooldown,   scope: topic,    window: 48h, max: 1, classes: [marketing] }
consent:
  stop:
    confirmation: { category: stop_confirmation, within: 5m }
producers:
  campaigns: { categories: [critical, transactional, stop_confirmation] }
`

func mustParse(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("parse policy: %v", err)
	}
	return p
}

// noon is 13:00 in Paris (the fallback zone) and 07:00 in New York.
var noon = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func baseIntent() *hushv1.ContactIntent {
	return &hushv1.ContactIntent{
		Id: "i-1", CustomerId: "c-1", Channel: "email", Category: "marketing", Topic: "winter-sale",
		Sender: &hushv1.Sender{Service: "campaigns"},
	}
}

func sentBy(producer string) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) { it.Sender.Service = producer }
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

type evalCase struct {
	name   string
	intent func(*hushv1.ContactIntent)
	prefs  *hushv1.Preferences
	now    time.Time // noon when zero
	reply  time.Time // end of the in_reply_to thread's window
	// wanted
	outcome   hushv1.Outcome
	code      hushv1.ReasonCode // of the deciding reason
	rule      string
	caps      []string // rules of the cap checks, in order
	shadow    []hushv1.ReasonCode
	releaseAt time.Time
	agent     bool // an agent budget check is due
	msg       string
}

var (
	approved   = hushv1.Outcome_OUTCOME_APPROVED
	suppressed = hushv1.Outcome_OUTCOME_SUPPRESSED
	deferred   = hushv1.Outcome_OUTCOME_DEFERRED
	mktCaps    = []string{"cap.daily", "cap.mkt-weekly", "cap.cooldown"}
)

func set(f ...func(*hushv1.ContactIntent)) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) {
		for _, g := range f {
			g(it)
		}
	}
}
func category(c string) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) { it.Category = c }
}
func channel(c string) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) { it.Channel = c }
}
func agent(purpose string) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) {
		it.Initiator, it.Purpose, it.Sender.AgentId, it.Category = "agent", purpose, "agent-7", "service"
	}
}
func replyTo(thread string) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) { it.InReplyTo = thread }
}
func notAfter(t time.Time) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) { it.NotAfter = ts(t) }
}

// stopped are preferences with a STOP on channel from service ("": the
// whole company) at.
func stopped(channel, service string, at time.Time) *hushv1.Preferences {
	return &hushv1.Preferences{Revocations: []*hushv1.Revocation{{Channel: channel, Service: service, At: ts(at), Via: "stop_keyword"}}}
}

func paris(h, m int) time.Time {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Date(2026, 11, 23, h, m, 0, 0, loc)
}

func newYork(h, m int) time.Time {
	loc, _ := time.LoadLocation("America/New_York")
	return time.Date(2026, 11, 23, h, m, 0, 0, loc)
}

func TestEvaluate(t *testing.T) {
	pol := mustParse(t, testPolicy)
	everythingAgainst := &hushv1.Preferences{
		Mode: hushv1.Mode_MODE_DO_NOTHING, ConsentRevoked: true, OptedOutChannels: []string{"email"},
		CareHold: &hushv1.CareHold{Reason: "bereavement"}, OptedOutCategories: []string{"critical"},
		MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(time.Hour)},
	}
	cases := []evalCase{
		{name: "marketing with no preferences is approved, subject to the caps", outcome: approved, caps: mktCaps},
		{name: "service is subject to the caps of its class only", intent: category("service"), outcome: approved, caps: []string{"cap.daily"}},
		{name: "a cooldown needs a topic", intent: func(it *hushv1.ContactIntent) { it.Topic = "" }, outcome: approved, caps: []string{"cap.daily", "cap.mkt-weekly"}},
		{name: "transactional ignores caps", intent: category("transactional"), outcome: approved},

		// producer.category (producers_test.go has the rest)
		{name: "critical from a producer the policy does not grant it", intent: set(category("critical"), sentBy("newsletters")), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED, rule: "producer.category", msg: `producer "newsletters" may not send critical contacts`},
		{name: "a refused category decides before an expired deadline", intent: set(category("transactional"), sentBy("newsletters"), notAfter(noon)), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED, rule: "producer.category"},

		// expired
		{name: "expired exactly at the deadline", intent: notAfter(noon), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_EXPIRED, rule: "expired", msg: "deadline 2026-11-23T12:00Z passed"},
		{name: "one ms before the deadline is in time", intent: notAfter(noon.Add(time.Millisecond)), outcome: approved, caps: mktCaps},
		{name: "critical past its deadline is expired too", intent: set(category("critical"), notAfter(noon.Add(-time.Second))), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_EXPIRED, rule: "expired"},

		// consent.required and stop_keyword (consent_test.go has the rest)
		{name: "a category requiring consent without a grant", intent: category("newsletter"), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED, rule: "consent.required", msg: "newsletter contacts need the customer's recorded opt-in consent"},
		{name: "a category requiring consent with a grant in force", intent: category("newsletter"), outcome: approved, caps: []string{"cap.daily", "cap.mkt-weekly", "cap.cooldown"},
			prefs: &hushv1.Preferences{Consents: []*hushv1.ConsentGrant{{Category: "newsletter", GivenAt: ts(noon.Add(-time.Hour)), Method: "web_form"}}}},
		{name: "a STOP on the channel stops marketing", intent: channel("sms"), prefs: stopped("sms", "", noon.Add(-time.Minute)), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD, rule: "stop_keyword", msg: "customer revoked sms contacts from the whole company"},
		{name: "the confirmation within 5 minutes of the STOP is counted, at most one", intent: set(channel("sms"), category("stop_confirmation")),
			prefs: stopped("sms", "", noon.Add(-time.Minute)), outcome: approved, caps: []string{"stop_keyword.confirmation"}},

		// critical
		{name: "critical passes every preference, counted but never capped", intent: category("critical"), prefs: everythingAgainst,
			now: paris(23, 0), outcome: approved},

		// hard opt-outs
		{name: "consent revoked stops marketing", prefs: &hushv1.Preferences{ConsentRevoked: true}, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED, rule: "consent_revoked"},
		{name: "consent revoked stops transactional", intent: category("transactional"), prefs: &hushv1.Preferences{ConsentRevoked: true},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED, rule: "consent_revoked"},
		{name: "channel opt-out", prefs: &hushv1.Preferences{OptedOutChannels: []string{"sms", "email"}}, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT, rule: "opt_out.channel", msg: "unsubscribed from email"},
		{name: "channel opt-out stops transactional", intent: category("transactional"), prefs: &hushv1.Preferences{OptedOutChannels: []string{"email"}},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT, rule: "opt_out.channel"},
		{name: "another channel's opt-out does not apply", intent: channel("push"), prefs: &hushv1.Preferences{OptedOutChannels: []string{"email"}},
			outcome: approved, caps: mktCaps},
		{name: "category opt-out", intent: category("survey"), prefs: &hushv1.Preferences{OptedOutCategories: []string{"survey"}},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_CATEGORY_OPTED_OUT, rule: "opt_out.category"},
		{name: "destination on the suppression list, compared hashed and normalised",
			intent:  func(it *hushv1.ContactIntent) { it.Destination = "Bounced@Example.com" },
			prefs:   &hushv1.Preferences{SuppressedDestinations: []string{policy.HashDestination(" bounced@example.com ")}},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_DESTINATION_SUPPRESSED, rule: "destination_suppressed"},
		{name: "another destination passes", intent: func(it *hushv1.ContactIntent) { it.Destination = "fine@example.com" },
			prefs:   &hushv1.Preferences{SuppressedDestinations: []string{policy.HashDestination("bounced@example.com")}},
			outcome: approved, caps: mktCaps},

		// care hold
		{name: "care hold stops transactional", intent: category("transactional"), prefs: &hushv1.Preferences{CareHold: &hushv1.CareHold{Reason: "bereavement", Until: ts(noon.Add(time.Hour))}},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_CARE_HOLD, rule: "care_hold", msg: "until 2026-11-23T13:00Z"},
		{name: "care hold lets an agent's reply inside a reply window through", intent: set(agent(""), replyTo("t-1")), reply: noon.Add(time.Hour),
			prefs: &hushv1.Preferences{CareHold: &hushv1.CareHold{Reason: "hardship"}}, outcome: approved, caps: []string{"cap.daily"}},
		{name: "care hold stops a system reply", intent: replyTo("t-1"), reply: noon.Add(time.Hour),
			prefs: &hushv1.Preferences{CareHold: &hushv1.CareHold{}}, outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_CARE_HOLD, rule: "care_hold"},
		{name: "care hold stops an agent reply after its window closed", intent: set(agent("follow-up"), replyTo("t-1")), reply: noon,
			prefs: &hushv1.Preferences{CareHold: &hushv1.CareHold{}}, outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_CARE_HOLD, rule: "care_hold"},
		{name: "care hold ended exactly now", prefs: &hushv1.Preferences{CareHold: &hushv1.CareHold{Until: ts(noon)}}, outcome: approved, caps: mktCaps},

		// modes
		{name: "do nothing stops marketing", prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING}, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_DO_NOTHING, rule: "mode.do_nothing"},
		// Design rule 6: do_nothing lets only critical contacts and replies through.
		{name: "do nothing stops transactional", intent: category("transactional"), prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_DO_NOTHING, rule: "mode.do_nothing"},
		{name: "essential only lets transactional through", intent: category("transactional"), prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_ESSENTIAL_ONLY}, outcome: approved},
		{name: "do nothing lets a reply inside its window through", intent: set(category("service"), replyTo("t-9")), reply: noon.Add(time.Millisecond),
			prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING}, outcome: approved, caps: []string{"cap.daily"}},
		{name: "do nothing stops a reply whose window closed exactly now", intent: set(category("service"), replyTo("t-9")), reply: noon,
			prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING}, outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_DO_NOTHING, rule: "mode.do_nothing"},
		{name: "snooze one ms before it ends still holds", prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING, ModeUntil: ts(noon.Add(time.Millisecond))},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_DO_NOTHING, rule: "mode.do_nothing", msg: "until 2026-11-23T12:00:01Z"},
		{name: "snooze ended exactly now", prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING, ModeUntil: ts(noon)}, outcome: approved, caps: mktCaps},
		{name: "essential only stops service", intent: category("service"), prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_ESSENTIAL_ONLY},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_ESSENTIAL_ONLY, rule: "mode.essential_only"},
		{name: "essential only lets transactional through", intent: category("transactional"), prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_ESSENTIAL_ONLY}, outcome: approved},
		{name: "essential only snoozed ended", prefs: &hushv1.Preferences{Mode: hushv1.Mode_MODE_ESSENTIAL_ONLY, ModeUntil: ts(noon.Add(-time.Hour))}, outcome: approved, caps: mktCaps},

		// topics and the customer's own frequency
		{name: "topic opt-out", prefs: &hushv1.Preferences{OptedOutTopics: []string{"winter-sale"}}, outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_TOPIC_OPTED_OUT, rule: "opt_out.topic"},
		{name: "the customer's own frequency is checked first", prefs: &hushv1.Preferences{MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(7 * 24 * time.Hour)}},
			outcome: approved, caps: append([]string{"customer_frequency"}, mktCaps...)},
		{name: "the customer's own frequency does not cap transactional", intent: category("transactional"),
			prefs: &hushv1.Preferences{MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(7 * 24 * time.Hour)}}, outcome: approved},

		// quiet hours
		{name: "quiet hours defer to their end in the customer's zone", now: paris(22, 30), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris"},
			outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(8, 0).AddDate(0, 0, 1),
			msg: "deferred to 2026-11-24T07:00Z"},
		{name: "quiet hours one ms before they start", now: paris(21, 0).Add(-time.Millisecond), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris"},
			outcome: approved, caps: mktCaps},
		{name: "quiet hours exactly at their start", now: paris(21, 0), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris"},
			outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(8, 0).AddDate(0, 0, 1)},
		{name: "quiet hours one ms before they end", now: paris(8, 0).Add(-time.Millisecond), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris"},
			outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(8, 0)},
		{name: "quiet hours exactly at their end", now: paris(8, 0), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris"}, outcome: approved, caps: mktCaps},
		{name: "unknown zone falls back to the policy's zone, never send anyway", now: paris(23, 0), prefs: &hushv1.Preferences{TimeZone: "Mars/Olympus_Mons"},
			outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(8, 0).AddDate(0, 0, 1)},
		{name: "no zone uses the fallback zone", now: paris(6, 0), outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(8, 0)},
		{name: "transactional ignores quiet hours", intent: category("transactional"), now: paris(3, 0), outcome: approved},
		{name: "US allows until 21:00", now: newYork(20, 30), prefs: &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-NY"}, outcome: approved, caps: mktCaps},
		{name: "Florida allows until 20:00 and suppresses", now: newYork(20, 30), prefs: &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-FL"},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", msg: "until 2026-11-24T13:00Z"},
		{name: "a deferral past the deadline is a suppression", now: paris(22, 0), intent: notAfter(paris(23, 0)), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris"},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", msg: "after the intent's deadline"},
		{name: "the customer's own quiet hours on top", now: paris(13, 0), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris", QuietHours: &hushv1.QuietHours{Start: "12:30", End: "14:00"}},
			outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(14, 0)},
		{name: "the customer's hours chain into the policy's", now: paris(20, 30), prefs: &hushv1.Preferences{TimeZone: "Europe/Paris", QuietHours: &hushv1.QuietHours{Start: "20:00", End: "22:00"}},
			outcome: deferred, code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, rule: "quiet_hours", releaseAt: paris(8, 0).AddDate(0, 0, 1)},
		{name: "invalid customer hours are ignored, the policy's still hold", now: paris(13, 0), prefs: &hushv1.Preferences{QuietHours: &hushv1.QuietHours{Start: "25:00", End: "x"}},
			outcome: approved, caps: mktCaps},
		{name: "a reply inside its window is not held by quiet hours", intent: set(category("service"), replyTo("t-1")), reply: paris(23, 30), now: paris(23, 0),
			outcome: approved, caps: []string{"cap.daily"}},

		// digests (digest_test.go has the rest)
		{name: "a category the customer asked a daily digest of is folded", now: paris(13, 0),
			prefs:   &hushv1.Preferences{TimeZone: "Europe/Paris", Digest: &hushv1.DigestPreference{Categories: []string{"marketing"}, At: "18:30"}},
			outcome: hushv1.Outcome_OUTCOME_FOLDED, code: hushv1.ReasonCode_REASON_CODE_FOLDED_INTO_DIGEST, rule: "digest", releaseAt: paris(18, 30),
			msg: "folded into the email digest released at 2026-11-23T17:30Z"},
		{name: "an opt-out still suppresses a digestible intent", now: paris(13, 0),
			prefs:   &hushv1.Preferences{OptedOutChannels: []string{"email"}, Digest: &hushv1.DigestPreference{Categories: []string{"marketing"}, At: "18:30"}},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT, rule: "opt_out.channel"},

		// over-servicing guard
		{name: "unsolicited agent contact without a purpose", intent: agent(""), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE, rule: "unsolicited.purpose"},
		{name: "unsolicited agent contact with a purpose is capped per customer and per agent", intent: agent("renewal reminder"), outcome: approved,
			caps: []string{"cap.daily", "unsolicited.customer_cap"}, agent: true},
		{name: "an agent reply inside a reply window is solicited", intent: set(agent(""), replyTo("t-1")), reply: noon.Add(time.Hour), outcome: approved,
			caps: []string{"cap.daily"}},
		{name: "an agent reply after the window closed is unsolicited", intent: set(agent(""), replyTo("t-1")), reply: noon.Add(-time.Hour), outcome: suppressed,
			code: hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE, rule: "unsolicited.purpose"},
		{name: "an unsolicited transactional agent contact skips caps but not the guard", intent: set(agent("refund issued"), category("transactional")), outcome: approved,
			caps: []string{"unsolicited.customer_cap"}, agent: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkEval(t, pol, c) })
	}
	t.Run("every rule of the rule list has a row", func(t *testing.T) {
		seen := map[string]bool{}
		for _, c := range cases {
			seen[c.rule] = true
			for _, r := range c.caps {
				if strings.HasPrefix(r, "cap.") {
					r = policy.RuleCaps
				}
				seen[r] = true
			}
			if c.agent {
				seen[policy.RuleUnsolicitedAgent] = true
			}
		}
		for _, id := range policy.RuleOrder() {
			if !seen[id] {
				t.Errorf("rule %s has no row in this table", id)
			}
		}
	})
}

func checkEval(t *testing.T, pol *policy.Policy, c evalCase) {
	t.Helper()
	it := baseIntent()
	if c.intent != nil {
		c.intent(it)
	}
	now := c.now
	if now.IsZero() {
		now = noon
	}
	v := pol.Evaluate(policy.Input{Intent: it, Prefs: c.prefs, Now: now, ReplyUntil: c.reply})
	if v.Outcome != c.outcome {
		t.Fatalf("outcome %v (%+v), want %v", v.Outcome, v.Reason, c.outcome)
	}
	if c.outcome != approved {
		if v.Reason.Code != c.code || v.Reason.Rule != c.rule {
			t.Errorf("reason %v %q, want %v %q", v.Reason.Code, v.Reason.Rule, c.code, c.rule)
		}
		if v.Reason.Message == "" || !strings.Contains(v.Reason.Message, c.msg) {
			t.Errorf("message %q, want it to contain %q", v.Reason.Message, c.msg)
		}
		if len(v.Caps) != 0 || v.Agent.Agent != "" {
			t.Errorf("a suppression must count nothing: caps %v, agent %+v", v.Caps, v.Agent)
		}
	}
	var rules []string
	for _, cc := range v.Caps {
		rules = append(rules, cc.Rule)
	}
	if !slices.Equal(rules, c.caps) {
		t.Errorf("cap checks %v, want %v", rules, c.caps)
	}
	var shadow []hushv1.ReasonCode
	for _, r := range v.Shadow {
		shadow = append(shadow, r.Code)
	}
	if !slices.Equal(shadow, c.shadow) {
		t.Errorf("shadow reasons %v, want %v", v.Shadow, c.shadow)
	}
	if !v.ReleaseAt.Equal(c.releaseAt) {
		t.Errorf("release at %v, want %v", v.ReleaseAt, c.releaseAt)
	}
	if (v.Agent.Agent != "") != c.agent || v.Unsolicited != c.agent {
		t.Errorf("agent check %+v unsolicited %v, want agent check %v", v.Agent, v.Unsolicited, c.agent)
	}
	if c.agent && (v.Agent.Agent != "agent-7" || v.Agent.Max != 20 || v.Agent.Window != 24*time.Hour) {
		t.Errorf("agent check %+v, want agent-7, 20 per 24h", v.Agent)
	}
}

func TestCapChecksCarryScopeValueAndClasses(t *testing.T) {
	pol := mustParse(t, testPolicy)
	v := pol.Evaluate(policy.Input{Intent: baseIntent(), Now: noon,
		Prefs: &hushv1.Preferences{MaxFrequency: &hushv1.MaxFrequency{Count: 2, Window: durationpb.New(90 * 24 * time.Hour)}}})
	want := []policy.CapCheck{
		{Rule: "customer_frequency", Scope: policy.ScopeCustomer, Window: policy.MaxCustomerWindow, Max: 2,
			Code: hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY, Classes: "sm"},
		{Rule: "cap.daily", Scope: policy.ScopeCustomer, Window: 24 * time.Hour, Max: 5, Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Classes: "sm"},
		{Rule: "cap.mkt-weekly", Scope: policy.ScopeCategory, Value: "marketing", Window: 7 * 24 * time.Hour, Max: 3, Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Classes: "m"},
		{Rule: "cap.cooldown", Scope: policy.ScopeTopic, Value: "winter-sale", Window: 48 * time.Hour, Max: 1, Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Classes: "m"},
	}
	if !slices.Equal(v.Caps, want) {
		t.Errorf("caps\n got %+v\nwant %+v", v.Caps, want)
	}
	if v.Class != policy.ClassMarketing {
		t.Errorf("class %q", v.Class)
	}
}

func TestShadowRulesNeverChangeTheOutcome(t *testing.T) {
	var b strings.Builder
	b.WriteString(testPolicy)
	b.WriteString("rules:\n")
	for _, id := range policy.RuleIDs {
		b.WriteString("  " + id + ": { mode: shadow }\n")
	}
	shadowAll := mustParse(t, b.String())
	enforceDoNothing := mustParse(t, testPolicy+"rules:\n  consent_revoked: { mode: shadow }\n  quiet_hours: { mode: shadow }\n")

	cases := []evalCase{
		{name: "every rule that would fire is recorded, in rule order", now: paris(23, 0),
			intent: set(agent(""), notAfter(noon.Add(-time.Hour))),
			prefs: &hushv1.Preferences{ConsentRevoked: true, OptedOutChannels: []string{"email"}, Mode: hushv1.Mode_MODE_ESSENTIAL_ONLY,
				TimeZone: "Europe/Paris", CareHold: &hushv1.CareHold{}},
			outcome: approved, caps: []string{"cap.daily", "unsolicited.customer_cap"}, agent: true,
			shadow: []hushv1.ReasonCode{
				hushv1.ReasonCode_REASON_CODE_EXPIRED, hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED, hushv1.ReasonCode_REASON_CODE_OPTED_OUT,
				hushv1.ReasonCode_REASON_CODE_CARE_HOLD, hushv1.ReasonCode_REASON_CODE_ESSENTIAL_ONLY, hushv1.ReasonCode_REASON_CODE_QUIET_HOURS,
				hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE,
			}},
		{name: "a shadow quiet hour releases nothing", now: paris(23, 0), outcome: approved, caps: mktCaps,
			shadow: []hushv1.ReasonCode{hushv1.ReasonCode_REASON_CODE_QUIET_HOURS}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkEval(t, shadowAll, c) })
	}
	t.Run("shadow and enforce mixed: the first enforcing rule decides", func(t *testing.T) {
		checkEval(t, enforceDoNothing, evalCase{now: paris(23, 0),
			prefs:   &hushv1.Preferences{ConsentRevoked: true, Mode: hushv1.Mode_MODE_DO_NOTHING},
			outcome: suppressed, code: hushv1.ReasonCode_REASON_CODE_DO_NOTHING, rule: "mode.do_nothing",
			shadow: []hushv1.ReasonCode{hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED}})
	})
	t.Run("shadow caps and counted rules are marked for the store", func(t *testing.T) {
		v := shadowAll.Evaluate(policy.Input{Intent: baseIntent(), Now: noon,
			Prefs: &hushv1.Preferences{MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(time.Hour)}}})
		if len(v.Caps) == 0 || !v.Caps[0].Shadow || v.Caps[1].Shadow {
			t.Errorf("customer_frequency in shadow, cap.daily enforced; got %+v", v.Caps)
		}
	})
}

// TestQuietHoursAcrossDST checks the quiet hours of 21:00-08:00 on the days
// the clocks change, in Europe and in the US: the release is at 08:00 local
// time by the clock of that morning, not 24 hours after 08:00 the day before.
func TestQuietHoursAcrossDST(t *testing.T) {
	pol := mustParse(t, testPolicy)
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, zone, region, now string
		release                 string // "" when not quiet
	}{
		{"Paris, night before spring forward (CET to CEST)", "Europe/Paris", "", "2026-03-28T22:00:00Z", "2026-03-29T06:00:00Z"},
		{"Paris, inside the skipped hour's night", "Europe/Paris", "", "2026-03-29T00:59:59.999Z", "2026-03-29T06:00:00Z"},
		{"Paris, spring forward morning, one ms before 08:00 CEST", "Europe/Paris", "", "2026-03-29T05:59:59.999Z", "2026-03-29T06:00:00Z"},
		{"Paris, spring forward morning, 08:00 CEST", "Europe/Paris", "", "2026-03-29T06:00:00Z", ""},
		{"Paris, spring forward evening, one ms before 21:00 CEST", "Europe/Paris", "", "2026-03-29T18:59:59.999Z", ""},
		{"Paris, spring forward evening, 21:00 CEST", "Europe/Paris", "", "2026-03-29T19:00:00Z", "2026-03-30T06:00:00Z"},
		{"Paris, night before fall back (CEST to CET)", "Europe/Paris", "", "2026-10-24T21:00:00Z", "2026-10-25T07:00:00Z"},
		{"Paris, the repeated hour, first time", "Europe/Paris", "", "2026-10-25T00:30:00Z", "2026-10-25T07:00:00Z"},
		{"Paris, the repeated hour, second time", "Europe/Paris", "", "2026-10-25T01:30:00Z", "2026-10-25T07:00:00Z"},
		{"Paris, fall back morning, 08:00 CET", "Europe/Paris", "", "2026-10-25T07:00:00Z", ""},
		{"Paris, fall back morning, 08:00 CEST would have been", "Europe/Paris", "", "2026-10-25T06:00:00Z", "2026-10-25T07:00:00Z"},
		{"New York, spring forward (EST to EDT), 01:30 EST", "America/New_York", "US", "2026-03-08T06:30:00Z", "2026-03-08T12:00:00Z"},
		{"New York, spring forward, 07:30 EDT", "America/New_York", "US", "2026-03-08T11:30:00Z", "2026-03-08T12:00:00Z"},
		{"New York, spring forward, 08:00 EDT", "America/New_York", "US", "2026-03-08T12:00:00Z", ""},
		{"New York, fall back (EDT to EST), 01:30 EDT", "America/New_York", "US", "2026-11-01T05:30:00Z", "2026-11-01T13:00:00Z"},
		{"New York, fall back, 01:30 EST", "America/New_York", "US", "2026-11-01T06:30:00Z", "2026-11-01T13:00:00Z"},
		{"New York, fall back, 08:00 EST", "America/New_York", "US", "2026-11-01T13:00:00Z", ""},
		{"New York, fall back evening, 21:00 EST", "America/New_York", "US", "2026-11-01T02:00:00Z", "2026-11-01T13:00:00Z"},
		{"Sydney, fall back (AEDT to AEST) in April", "Australia/Sydney", "", "2026-04-04T12:00:00Z", "2026-04-04T22:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := pol.Evaluate(policy.Input{Intent: baseIntent(), Now: utc(c.now), Prefs: &hushv1.Preferences{TimeZone: c.zone, Region: c.region}})
			if c.release == "" {
				if v.Outcome != approved {
					t.Fatalf("outcome %v (%s), want approved", v.Outcome, v.Reason.Message)
				}
				return
			}
			if v.Outcome != deferred || !v.ReleaseAt.Equal(utc(c.release)) {
				t.Fatalf("outcome %v release %v (%s), want deferred to %s", v.Outcome, v.ReleaseAt, v.Reason.Message, c.release)
			}
		})
	}
}

// TestQuietWindowEndingInTheSkippedHour covers a customer's window that
// ends at a time the clocks skip: it ends when they jump, or just after,
// and never before now.
func TestQuietWindowEndingInTheSkippedHour(t *testing.T) {
	pol := mustParse(t, strings.Replace(testPolicy, `quiet: ["21:00-08:00"]`, `quiet: ["23:00-23:30"]`, 1))
	now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // 01:30 CET
	prefs := &hushv1.Preferences{TimeZone: "Europe/Paris", QuietHours: &hushv1.QuietHours{Start: "01:00", End: "02:30"}}
	v := pol.Evaluate(policy.Input{Intent: baseIntent(), Now: now, Prefs: prefs})
	jump := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	if v.Outcome != deferred || v.ReleaseAt.Before(jump) || v.ReleaseAt.After(jump.Add(30*time.Minute)) {
		t.Fatalf("outcome %v release %v; want deferred to between the jump (%v) and 03:30 CEST", v.Outcome, v.ReleaseAt, jump)
	}
	after := pol.Evaluate(policy.Input{Intent: baseIntent(), Now: v.ReleaseAt, Prefs: prefs})
	if after.Outcome != approved {
		t.Errorf("at the release time the intent is %v: %s", after.Outcome, after.Reason.Message)
	}
}

func TestExplanations(t *testing.T) {
	c := policy.CapCheck{Rule: "cap.mkt-weekly", Scope: policy.ScopeCategory, Value: "marketing", Window: 7 * 24 * time.Hour, Max: 3}
	next := time.Date(2026, 11, 29, 10, 2, 0, 0, time.UTC)
	if got, want := policy.CapMessage(c, 3, next), "3 of 3 marketing contacts in the last 7 days; next allowed 2026-11-29T10:02Z"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	c = policy.CapCheck{Rule: "customer_frequency", Scope: policy.ScopeCustomer, Window: 24 * time.Hour, Max: 1, Code: hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY}
	if got, want := policy.CapMessage(c, 1, next.Add(1500*time.Millisecond)), "the customer's own limit: 1 of 1 contacts in the last 1 day; next allowed 2026-11-29T10:02:02Z"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	a := policy.AgentCheck{Agent: "agent-7", Window: 24 * time.Hour, Max: 20}
	if got, want := policy.AgentCapMessage(a, 20, next), "20 of 20 unsolicited contacts by agent agent-7 in the last 1 day; next allowed 2026-11-29T10:02Z"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
