package policy_test

import (
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const producersPolicy = `
version: p-1
categories:
  critical:      { class: critical }
  fraud-alert:   { class: critical }
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
  survey:        { class: marketing, restricted: true }
producers:
  security: { categories: [critical, fraud-alert, transactional] }
  billing:  { categories: [transactional] }
  research: { categories: [survey] }
`

func TestProducerRules(t *testing.T) {
	pol := mustParse(t, producersPolicy)
	shadow := mustParse(t, producersPolicy+"rules:\n  producer.category: { mode: shadow }\n")
	on := func(subject, producer string) *policy.Publisher {
		return &policy.Publisher{Subject: subject, Producer: producer}
	}
	cases := []struct {
		name      string
		pol       *policy.Policy
		sender    string
		category  string
		publisher *policy.Publisher
		code      hushv1.ReasonCode // UNSPECIFIED: approved
		msg       string
		shadow    []hushv1.ReasonCode
	}{
		{name: "an open category, any producer", sender: "campaigns", category: "marketing", publisher: on("hush.intent.campaigns.email", "campaigns")},
		{name: "critical by a producer granted it", sender: "security", category: "critical", publisher: on("hush.intent.security.email", "security")},
		{name: "a critical category of another name", sender: "security", category: "fraud-alert"},
		{name: "transactional by a producer granted it", sender: "billing", category: "transactional"},
		{name: "a restricted marketing category by its producer", sender: "research", category: "survey"},
		{name: "critical self-declared", sender: "campaigns", category: "critical", publisher: on("hush.intent.campaigns.email", "campaigns"),
			code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED, msg: `producer "campaigns" may not send critical contacts`},
		{name: "a critical category of another name, self-declared", sender: "billing", category: "fraud-alert",
			code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED, msg: "fraud-alert"},
		{name: "transactional self-declared", sender: "campaigns", category: "transactional",
			code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED},
		{name: "a restricted marketing category", sender: "campaigns", category: "survey",
			code: hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED},
		{name: "a sender that is not the publishing producer", sender: "security", category: "critical", publisher: on("hush.intent.campaigns.email", "campaigns"),
			code: hushv1.ReasonCode_REASON_CODE_SENDER_UNVERIFIED, msg: `sender.service "security" is not "campaigns"`},
		{name: "a mismatch decides before the category", sender: "campaigns", category: "marketing", publisher: on("hush.intent.research.email", "research"),
			code: hushv1.ReasonCode_REASON_CODE_SENDER_UNVERIFIED},
		{name: "a subject without a producer", sender: "campaigns", category: "marketing", publisher: on("hush.intent.email", ""),
			code: hushv1.ReasonCode_REASON_CODE_SENDER_UNVERIFIED, msg: "hush.intent.email, which names no producer"},
		{name: "shadow allow-list: recorded, not enforced", pol: shadow, sender: "campaigns", category: "critical",
			shadow: []hushv1.ReasonCode{hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED}},
		{name: "the sender rule has no shadow mode", pol: shadow, sender: "security", category: "critical", publisher: on("hush.intent.campaigns.email", "campaigns"),
			code: hushv1.ReasonCode_REASON_CODE_SENDER_UNVERIFIED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.pol
			if p == nil {
				p = pol
			}
			it := &hushv1.ContactIntent{Id: "i-1", CustomerId: "c-1", Channel: "email", Category: c.category,
				Sender: &hushv1.Sender{Service: c.sender}}
			v := p.Evaluate(policy.Input{Intent: it, Now: noon, Publisher: c.publisher})
			if c.code == hushv1.ReasonCode_REASON_CODE_UNSPECIFIED {
				if !v.Approved() {
					t.Fatalf("%v %+v, want approved", v.Outcome, v.Reason)
				}
			} else {
				if v.Outcome != suppressed || v.Reason.Code != c.code || !strings.Contains(v.Reason.Message, c.msg) {
					t.Fatalf("%v %+v, want suppressed %v with %q", v.Outcome, v.Reason, c.code, c.msg)
				}
				if len(v.Caps) != 0 {
					t.Errorf("a refusal counts nothing: %v", v.Caps)
				}
			}
			var shadow []hushv1.ReasonCode
			for _, r := range v.Shadow {
				shadow = append(shadow, r.Code)
			}
			if len(shadow) != len(c.shadow) || len(shadow) > 0 && shadow[0] != c.shadow[0] {
				t.Errorf("shadow %v, want %v", shadow, c.shadow)
			}
		})
	}
}

func TestProducerPolicyErrors(t *testing.T) {
	const head = "version: v1\ncategories:\n  critical: { class: critical }\n  marketing: { class: marketing }\n"
	cases := []struct{ name, doc, want string }{
		{"critical cannot be opened", "version: v1\ncategories:\n  critical: { class: critical, restricted: false }\n",
			"p.yaml:3: categories.critical.restricted: critical categories are always restricted"},
		{"unknown category", head + "producers:\n  alerts: { categories: [critcal] }\n",
			`p.yaml:6: producers.alerts.categories[0]: unknown category "critcal"`},
		{"no categories", head + "producers:\n  alerts: {}\n", "p.yaml:6: producers.alerts.categories: required"},
		{"a name that is no subject token", head + "producers:\n  Alerts.EU: { categories: [critical] }\n",
			"p.yaml:6: producers.Alerts.EU: producer names use"},
		{"the sender rule has no mode", head + "rules:\n  producer.sender: { mode: shadow }\n",
			"p.yaml:6: rules.producer.sender: unknown rule"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestReplyThreadsAreKeptPerChannelFamily(t *testing.T) {
	for _, c := range []struct{ a, b string }{{"sms", "whatsapp"}, {"sms", "voice"}, {"push", "in_app"}} {
		if policy.ReplyThread(c.a, "t") != policy.ReplyThread(c.b, "t") {
			t.Errorf("%s and %s are one family", c.a, c.b)
		}
	}
	for _, c := range []struct{ a, b string }{{"sms", "email"}, {"email", "in_app"}, {"voice", "push"}} {
		if policy.ReplyThread(c.a, "t") == policy.ReplyThread(c.b, "t") {
			t.Errorf("%s and %s are different families", c.a, c.b)
		}
	}
	for _, ch := range policy.Channels {
		if policy.ChannelFamily(ch) == "" {
			t.Errorf("channel %s has no family", ch)
		}
	}
	if policy.ReplyThread("email", "") != "" {
		t.Error("no thread, no key")
	}
}
