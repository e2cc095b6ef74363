package policy_test

import (
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
)

// TestCapCountsOnlyItsClasses pins the rule hushctl shares with the store's
// decision script: which ledger contacts a cap counts.
func TestCapCountsOnlyItsClasses(t *testing.T) {
	p, err := policy.Parse("t.yaml", []byte(`
version: t
categories:
  marketing: { class: marketing }
  service:   { class: service }
caps:
  - { id: mkt, scope: customer, window: 1h, max: 2, classes: [marketing] }
`))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Caps()[0]
	for code, want := range map[string]bool{
		policy.ClassMarketing.Code():     true,
		policy.ClassService.Code():       false,
		policy.ClassCritical.Code():      false,
		policy.ClassTransactional.Code(): false,
		"":                               false, // recorded before contacts carried a class
	} {
		if got := c.Counts(code); got != want {
			t.Errorf("Counts(%q) = %v, want %v", code, got, want)
		}
	}
}

// TestCapWindowFill pins how a window reads a ledger, as the store's decision
// script does: contacts in (at-window, at] of its scope value and classes
// count, and a full window opens again when the oldest contact keeping it
// full slides out.
func TestCapWindowFill(t *testing.T) {
	p, err := policy.Parse("t.yaml", []byte(`
version: t
categories:
  marketing: { class: marketing }
  service:   { class: service }
caps:
  - { id: email, scope: channel, window: 1h, max: 2, classes: [marketing] }
`))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m := policy.ClassMarketing.Code()
	ledger := []policy.Contact{
		{IntentID: "too-old", Channel: "email", Class: m, At: at.Add(-time.Hour)},
		{IntentID: "a", Channel: "email", Class: m, At: at.Add(-50 * time.Minute)},
		{IntentID: "sms", Channel: "sms", Class: m, At: at.Add(-40 * time.Minute)},
		{IntentID: "service", Channel: "email", Class: policy.ClassService.Code(), At: at.Add(-30 * time.Minute)},
		{IntentID: "b", Channel: "email", Class: m, At: at.Add(-20 * time.Minute)},
		{IntentID: "c", Channel: "email", Class: m, At: at},
		{IntentID: "later", Channel: "email", Class: m, At: at.Add(time.Second)},
	}
	w := p.Caps()[0].Check("email")
	if w.Rule != "cap.email" || w.Scope != policy.ScopeChannel || w.Max != 2 || w.Mode() != policy.Enforce {
		t.Errorf("window %+v", w)
	}
	n, next := w.Fill(ledger, at)
	if want := at.Add(-20 * time.Minute).Add(time.Hour); n != 3 || !next.Equal(want) {
		t.Errorf("Fill = %d, %v; want 3, %v", n, next, want)
	}
	if n, next := w.Fill(ledger[:3], at); n != 1 || !next.IsZero() {
		t.Errorf("Fill of a window with room = %d, %v; want 1 and no next slot", n, next)
	}
}
