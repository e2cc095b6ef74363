package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestShippedPacksLoad: every pack under deploy/policy/packs loads, has a
// version, and every rule names the section of the law it implements.
func TestShippedPacksLoad(t *testing.T) {
	names := policy.EmbeddedPacks()
	for _, want := range []string{"fr-demarchage", "us-reg-f", "us-state-mini-tcpa", "us-tcpa"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("pack %s is not shipped (have %v)", want, names)
		}
	}
	for _, n := range names {
		pk, err := policy.LoadPack(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if pk.Name != n || pk.Version == "" || len(pk.Rules) == 0 {
			t.Errorf("%s: name %q version %q, %d rules", n, pk.Name, pk.Version, len(pk.Rules))
		}
		for _, r := range pk.Rules {
			if r.Section == "" || !strings.HasPrefix(r.ID, n+".") || r.Describe() == "" {
				t.Errorf("%s: rule %q (section %q): %q", n, r.ID, r.Section, r.Describe())
			}
		}
	}
}

const packHead = `version: p
categories:
  collections: { class: service }
  alerts:      { class: critical }
`

// TestPackErrors: a policy's packs section, and a pack file, are validated
// with the line and the field at fault.
func TestPackErrors(t *testing.T) {
	dir := t.TempDir()
	bad := `pack: mine
version: "1"
rules:
  - id: late
    section: "s. 1"
    hours: { every_day: ["21:00-08:00"] }
  - id: holidays
    section: "s. 2"
    closed: { holidays: XX }
  - id: both
    section: "s. 3"
    cap: { scope: subject, max: 3, days: 7, window: 24h }
  - id: cooldown
    cooldown: { after: message, scope: customer, days: 7 }
`
	if err := os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown pack", packHead + "packs:\n  - { name: us-nowhere, categories: [collections] }\n",
			[]string{`p.yaml:6: packs[0].name: no shipped pack "us-nowhere"`}},
		{"no categories", packHead + "packs:\n  - { name: us-tcpa }\n",
			[]string{"p.yaml:6: packs[0].categories: required"}},
		{"critical category", packHead + "packs:\n  - { name: us-tcpa, categories: [alerts] }\n",
			[]string{`packs[0].categories[0]: category "alerts" is critical`}},
		{"bad mode", packHead + "packs:\n  - { name: us-tcpa, mode: loud, categories: [collections] }\n",
			[]string{`packs[0].mode: want enforce or shadow`}},
		{"name and path", packHead + "packs:\n  - { name: us-tcpa, path: x.yaml, categories: [collections] }\n",
			[]string{`packs[0]: give either name`}},
		{"bad pack file", packHead + "packs:\n  - { path: mine.yaml, categories: [collections] }\n", []string{
			`mine.yaml:6: rules[0].hours.every_day[0]: "21:00-08:00" wraps past midnight`,
			`mine.yaml:9: rules[1].closed.holidays: unknown holiday set "XX"`,
			`mine.yaml:12: rules[2].cap: give either days`,
			`mine.yaml:13: rules[3].section: required`,
			`mine.yaml:14: rules[3].cooldown.after: want one of conversation, refusal, stop_keyword`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse(filepath.Join(dir, "p.yaml"), []byte(c.doc))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// TestPackInShadowModeOnlyReports: a pack in shadow mode never changes an
// outcome; it adds a shadow reason that names the pack and the section.
func TestPackInShadowModeOnlyReports(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte(packHead+"packs:\n  - { name: fr-demarchage, mode: shadow, categories: [collections] }\n"))
	if err != nil {
		t.Fatal(err)
	}
	saturday := time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)
	it := &hushv1.ContactIntent{Id: "i", CustomerId: "c", Channel: "voice", Category: "collections", Sender: &hushv1.Sender{Service: "s"}}
	v := pol.Evaluate(policy.Input{Intent: it, Prefs: &hushv1.Preferences{TimeZone: "Europe/Paris", Region: "FR"}, Now: saturday})
	if !v.Approved() || len(v.Shadow) != 1 {
		t.Fatalf("outcome %v, shadow %v; want approved with one shadow reason", v.Outcome, v.Shadow)
	}
	if r := v.Shadow[0]; r.Pack != "fr-demarchage" || r.Section != "C. consom. art. D. 223-9, al. 1" || r.Code != hushv1.ReasonCode_REASON_CODE_NO_CONTACT_DAY {
		t.Fatalf("shadow reason %+v", r)
	}
	var capRules []string
	for _, c := range v.Caps {
		if !c.Shadow {
			t.Errorf("cap %s of a shadow pack enforces", c.Rule)
		}
		capRules = append(capRules, c.Rule)
	}
	if len(v.Cooldowns) != 1 || !v.Cooldowns[0].Shadow || len(capRules) != 1 {
		t.Fatalf("caps %v, cooldowns %+v; want the attempts cap and the refusal cooldown, in shadow", capRules, v.Cooldowns)
	}
}

// BenchmarkEvaluatePacks measures the rules with every shipped pack
// composed: go test -run '^$' -bench EvaluatePacks -benchmem ./internal/core/policy
func BenchmarkEvaluatePacks(b *testing.B) {
	pol, err := policy.Parse("p.yaml", []byte(`version: p
categories:
  collections: { class: service }
  canvassing:  { class: marketing }
packs:
  - { name: us-tcpa, categories: [collections] }
  - { name: us-state-mini-tcpa, categories: [collections] }
  - { name: us-reg-f, categories: [collections] }
  - { name: fr-demarchage, categories: [canvassing] }
`))
	if err != nil {
		b.Fatal(err)
	}
	us := &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-FL"}
	fr := &hushv1.Preferences{TimeZone: "Europe/Paris", Region: "FR"}
	monday := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	call := func(category string) *hushv1.ContactIntent {
		return &hushv1.ContactIntent{Id: "i", CustomerId: "c", Channel: "voice", Category: category, SubjectRef: "debt-1", Sender: &hushv1.Sender{Service: "s"}}
	}
	for _, c := range []struct {
		name  string
		it    *hushv1.ContactIntent
		prefs *hushv1.Preferences
		now   time.Time
		want  hushv1.Outcome
	}{
		{"approved/us-collection-call", call("collections"), us, monday, hushv1.Outcome_OUTCOME_APPROVED},
		{"deferred/us-collection-call-at-night", call("collections"), us, monday.Add(10 * time.Hour), hushv1.Outcome_OUTCOME_DEFERRED},
		{"approved/fr-canvassing", call("canvassing"), fr, monday, hushv1.Outcome_OUTCOME_APPROVED},
		{"deferred/fr-canvassing-on-saturday", call("canvassing"), fr, monday.Add(5 * 24 * time.Hour), hushv1.Outcome_OUTCOME_DEFERRED},
	} {
		b.Run(c.name, func(b *testing.B) {
			in := policy.Input{Intent: c.it, Prefs: c.prefs, Now: c.now}
			if v := pol.Evaluate(in); v.Outcome != c.want {
				b.Fatalf("outcome %v (%s), want %v", v.Outcome, v.Reason.Message, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				pol.Evaluate(in)
			}
		})
	}
}
