package policy_test

import (
	"errors"
	"strings"
	"testing"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
)

func TestDefaultPolicyLoads(t *testing.T) {
	p, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version == "" || len(p.Caps()) == 0 || p.ReplyWindow.Hours() != 7*24 {
		t.Errorf("default policy: version %q, %d caps, reply window %v", p.Version, len(p.Caps()), p.ReplyWindow)
	}
	for _, id := range policy.RuleIDs {
		if p.RuleMode(id) != policy.Enforce {
			t.Errorf("rule %s is %s in the default policy", id, p.RuleMode(id))
		}
	}
}

// TestPolicyErrors checks that every mistake is refused with the file, the
// line and the field at fault.
func TestPolicyErrors(t *testing.T) {
	const head = "version: v1\ncategories:\n  marketing: { class: marketing }\n  tx: { class: transactional }\n"
	cases := []struct {
		name, doc string
		want      []string // each must appear in the error
	}{
		{"unknown key at the top", head + "colour: blue\n", []string{"p.yaml:5: colour: unknown field"}},
		{"unknown key in a cap", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: 1, classes: [marketing], maxx: 2 }\n",
			[]string{"p.yaml:6: maxx: unknown field"}},
		{"missing version", "categories:\n  m: { class: marketing }\n", []string{"p.yaml:1: version: required"}},
		{"unknown class", "version: v\ncategories:\n  m: { class: promotional }\n", []string{`p.yaml:3: categories.m.class: unknown class "promotional"`}},
		{"bad category name", "version: v\ncategories:\n  Big Sale: { class: marketing }\n", []string{"p.yaml:3: categories.Big Sale: category names"}},
		{"bad duration", head + "decision_retention: 3 days\n", []string{`p.yaml:5: decision_retention: want a positive duration like 90m, 24h or 7d, got "3 days"`}},
		{"negative duration", head + "reply_window: -1h\n", []string{"p.yaml:5: reply_window: want a positive duration"}},
		{"reply window too long", head + "reply_window: 365d\n", []string{"p.yaml:5: reply_window: at most 90d"}},
		{"unknown zone", head + "fallback_time_zone: Atlantis/Capital\n", []string{`p.yaml:5: fallback_time_zone: unknown time zone "Atlantis/Capital"`}},
		{"unknown rule", head + "rules:\n  opt_out.everything: { mode: shadow }\n", []string{"p.yaml:6: rules.opt_out.everything: unknown rule"}},
		{"bad rule mode", head + "rules:\n  quiet_hours: { mode: maybe }\n", []string{`p.yaml:6: rules.quiet_hours.mode: want enforce or shadow, got "maybe"`}},
		{"cap of zero", head + "caps:\n  - id: a\n    scope: customer\n    window: 1h\n    max: 0\n    classes: [marketing]\n",
			[]string{"p.yaml:9: caps[0].max: must be at least 1"}},
		{"cap never reached", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: 1000000, classes: [marketing] }\n", []string{"p.yaml:6: caps[0].max: at most 100000"}},
		{"cap window too short", head + "caps:\n  - { id: a, scope: customer, window: 10ms, max: 1, classes: [marketing] }\n", []string{"p.yaml:6: caps[0].window: at least 1s"}},
		{"cap window too long", head + "caps:\n  - { id: a, scope: customer, window: 500d, max: 1, classes: [marketing] }\n", []string{"p.yaml:6: caps[0].window: at most 400d"}},
		{"cap without window", head + "caps:\n  - { id: a, scope: customer, max: 1, classes: [marketing] }\n", []string{"p.yaml:6: caps[0].window: want a positive duration"}},
		{"cap of critical", head + "caps:\n  - id: a\n    scope: customer\n    window: 1h\n    max: 1\n    classes: [critical]\n",
			[]string{"p.yaml:10: caps[0].classes[0]: critical contacts are never capped"}},
		{"cap of transactional", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: 1, classes: [transactional] }\n",
			[]string{"p.yaml:6: caps[0].classes[0]: transactional contacts ignore caps"}},
		{"cap of an unknown class", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: 1, classes: [promo] }\n", []string{`caps[0].classes[0]: unknown class "promo"`}},
		{"cap without classes", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: 1 }\n", []string{"p.yaml:6: caps[0].classes: required"}},
		{"unknown scope", head + "caps:\n  - { id: a, scope: planet, window: 1h, max: 1, classes: [marketing] }\n", []string{`caps[0].scope: want one of customer, channel, category, topic, sender, got "planet"`}},
		{"duplicate cap id", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: 1, classes: [marketing] }\n  - { id: a, scope: channel, window: 1h, max: 1, classes: [marketing] }\n",
			[]string{`p.yaml:7: caps[1].id: duplicate cap id "a"`}},
		{"overlapping quiet windows", head + "quiet_hours:\n  quiet: [\"21:00-08:00\", \"07:00-09:00\"]\n",
			[]string{"p.yaml:6: quiet_hours.quiet[1]: 07:00-09:00 overlaps 21:00-08:00"}},
		{"empty quiet window", head + "quiet_hours:\n  quiet: [\"08:00-08:00\"]\n", []string{"quiet_hours.quiet[0]: \"08:00-08:00\" is empty"}},
		{"invalid quiet window", head + "quiet_hours:\n  quiet: [\"9pm-8am\"]\n", []string{"p.yaml:6: quiet_hours.quiet[0]: want HH:MM-HH:MM"}},
		{"hour out of range", head + "quiet_hours:\n  quiet: [\"21:00-24:00\"]\n", []string{"quiet_hours.quiet[0]: want HH:MM-HH:MM with hours 00-23"}},
		{"bad action", head + "quiet_hours:\n  action: postpone\n", []string{`p.yaml:6: quiet_hours.action: want defer, suppress or digest, got "postpone"`}},
		{"bad region code", head + "quiet_hours:\n  regions:\n    usa: { allowed: \"08:00-21:00\" }\n", []string{"p.yaml:7: quiet_hours.regions.usa: want an ISO 3166 code"}},
		{"region with both forms", head + "quiet_hours:\n  regions:\n    US: { allowed: \"08:00-21:00\", quiet: [\"21:00-08:00\"] }\n",
			[]string{"quiet_hours.regions.US.allowed: give either allowed or quiet"}},
		{"region with neither", head + "quiet_hours:\n  regions:\n    US: { action: suppress }\n", []string{"p.yaml:7: quiet_hours.regions.US: required: allowed"}},
		{"quiet hours for critical", head + "quiet_hours:\n  classes: [critical]\n", []string{"quiet_hours.classes[0]: critical contacts are never held back"}},
		{"customer frequency for transactional", head + "customer_frequency:\n  classes: [tx]\n", []string{`customer_frequency.classes[0]: unknown class "tx"`}},
		{"unsolicited cap of zero", head + "unsolicited:\n  agent: { window: 24h, max: 0 }\n", []string{"p.yaml:6: unsolicited.agent.max: must be at least 1"}},
		{"unsolicited bad window", head + "unsolicited:\n  customer:\n    window: fortnight\n    max: 1\n", []string{"p.yaml:7: unsolicited.customer.window: want a positive duration"}},
		{"wrong type", head + "caps:\n  - { id: a, scope: customer, window: 1h, max: many, classes: [marketing] }\n", []string{"p.yaml:", "cannot unmarshal"}},
		{"not YAML", "version: [\n", []string{"p.yaml:"}},
		{"every problem at once", head + "reply_window: soon\ncaps:\n  - { id: a, scope: x, window: 1h, max: 0, classes: [marketing] }\n",
			[]string{"p.yaml:5: reply_window", "p.yaml:7: caps[0].scope", "p.yaml:7: caps[0].max"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(c.doc))
			if err == nil {
				t.Fatal("accepted; want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestPolicyErrorsAreTyped(t *testing.T) {
	_, err := policy.Parse("p.yaml", []byte("version: v\ncategories:\n  m: { class: nope }\n"))
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Line != 3 || pe.Field != "categories.m.class" {
		t.Fatalf("want a *policy.Error at line 3 on categories.m.class, got %#v", err)
	}
}

func TestRegionsAndSections(t *testing.T) {
	p := mustParse(t, "version: v\ncategories:\n  m: { class: marketing }\nquiet_hours:\n  regions:\n    US-FL: { quiet: [\"20:00-08:00\"] }\n")
	if p.RuleMode("quiet_hours") != policy.Enforce || p.RuleMode("cap.none") != policy.Enforce {
		t.Error("rules default to enforce")
	}
}
