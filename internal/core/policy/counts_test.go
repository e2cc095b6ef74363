package policy_test

import (
	"testing"

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
