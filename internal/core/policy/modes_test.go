package policy_test

import (
	"slices"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func TestModesLetThrough(t *testing.T) {
	pol, err := policy.Parse("modes.yaml", []byte(`
version: v1
categories:
  critical:      { class: critical }
  fraud:         { class: critical }
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
  survey:        { class: marketing }
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode       hushv1.Mode
		categories []string
		// lets and blocks are classes, outside a reply window.
		lets, blocks []policy.Class
	}{
		{hushv1.Mode_MODE_NORMAL, []string{"critical", "fraud", "marketing", "service", "survey", "transactional"},
			[]policy.Class{policy.ClassCritical, policy.ClassTransactional, policy.ClassService, policy.ClassMarketing}, nil},
		{hushv1.Mode_MODE_ESSENTIAL_ONLY, []string{"critical", "fraud", "transactional"},
			[]policy.Class{policy.ClassCritical, policy.ClassTransactional}, []policy.Class{policy.ClassService, policy.ClassMarketing}},
		{hushv1.Mode_MODE_DO_NOTHING, []string{"critical", "fraud"},
			[]policy.Class{policy.ClassCritical}, []policy.Class{policy.ClassTransactional, policy.ClassService, policy.ClassMarketing}},
	}
	modes := pol.Modes()
	if len(modes) != len(tests) {
		t.Fatalf("Modes() has %d modes, want %d", len(modes), len(tests))
	}
	for i, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			s := pol.ModeLets(tc.mode)
			if modes[i].Mode != tc.mode {
				t.Errorf("Modes()[%d] is %v, want %v (loosest first)", i, modes[i].Mode, tc.mode)
			}
			if !slices.Equal(s.Categories, tc.categories) {
				t.Errorf("categories %v, want %v", s.Categories, tc.categories)
			}
			for _, c := range tc.lets {
				if !s.Lets(c, false) {
					t.Errorf("does not let %s through", c)
				}
			}
			for _, c := range tc.blocks {
				if s.Lets(c, false) {
					t.Errorf("lets %s through", c)
				}
				if !s.Lets(c, true) {
					t.Errorf("blocks a %s reply to the customer's own contact", c)
				}
			}
		})
	}
	// Each mode is stricter than the one before: it lets through nothing
	// the looser one blocks, and blocks something the looser one lets.
	for i := 1; i < len(modes); i++ {
		if len(modes[i].Categories) >= len(modes[i-1].Categories) {
			t.Errorf("%v is not stricter than %v", modes[i].Mode, modes[i-1].Mode)
		}
		for _, c := range modes[i].Categories {
			if !slices.Contains(modes[i-1].Categories, c) {
				t.Errorf("%v lets %s through but %v does not", modes[i].Mode, c, modes[i-1].Mode)
			}
		}
	}
	if s := pol.ModeLets(hushv1.Mode(42)); !s.All {
		t.Errorf("an unknown mode: %+v; want treated as normal", s)
	}
}

// knownModeGaps are the cases where Evaluate does not yet do what Modes
// says (rule 6 of the design). The test fails when one is closed, so that
// the entry is deleted and the gap cannot reopen.
var knownModeGaps = map[string]bool{}

// TestEvaluateFollowsModes holds the rules to Modes, the statement the
// preference page words its promises from: each mode lets through exactly
// the classes it names, and replies to the customer's own contact.
func TestEvaluateFollowsModes(t *testing.T) {
	pol, err := policy.Parse("modes.yaml", []byte(`
version: v1
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
rules:
  quiet_hours: { mode: shadow }
producers:
  svc: { categories: [critical, transactional] }
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, m := range pol.Modes() {
		for _, cat := range pol.CategoryNames() {
			class, _ := pol.ClassOf(cat)
			for _, reply := range []bool{false, true} {
				in := policy.Input{
					Intent: &hushv1.ContactIntent{Id: "i-1", CustomerId: "c-1", Channel: "email", Category: cat,
						Sender: &hushv1.Sender{Service: "svc"}},
					Prefs: &hushv1.Preferences{CustomerId: "c-1", Mode: m.Mode},
					Now:   now,
				}
				name := m.Mode.String() + "/" + cat + "/not a reply"
				if reply {
					in.Intent.InReplyTo, in.ReplyUntil = "thread-1", now.Add(time.Hour)
					name = m.Mode.String() + "/" + cat + "/a reply"
				}
				v := pol.Evaluate(in)
				want := m.Lets(class, reply)
				switch {
				case knownModeGaps[name] && v.Approved() != want:
					t.Logf("%s: known gap, approved %v, Modes says %v", name, v.Approved(), want)
				case knownModeGaps[name]:
					t.Errorf("%s: Evaluate now follows Modes; delete the entry from knownModeGaps", name)
				case v.Approved() != want:
					t.Errorf("%s: approved %v (%s), Modes says %v", name, v.Approved(), v.Reason.Message, want)
				}
			}
		}
	}
}
