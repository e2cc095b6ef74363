package main

import (
	"fmt"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// budgetFields are the explanation's lines for priority and waiting: the
// priority the intent was decided with and, for a decision a cap made,
// when the window frees a slot for it. None for a decision that records
// neither (a policy without priorities).
func budgetFields(d *hushv1.Decision) [][2]string {
	var out [][2]string
	if p := d.GetPriority(); p != "" {
		out = append(out, [2]string{"priority", p})
	}
	if n := d.GetNextAllowedAt(); n != nil {
		out = append(out, [2]string{"next allowed", ts(n.AsTime())})
	}
	return out
}

// capBudget says in words what a cap reserves for higher priorities and
// what it does to an intent it blocks, e.g. "last 2 for priority high and
// above; defers up to 2 days"; "" for a plain cap that suppresses.
func capBudget(c *policy.Cap) string {
	s := ""
	if c.Reserve > 0 {
		s = fmt.Sprintf("last %d for priority %s and above", c.Reserve, c.ReserveFor)
	}
	if c.Action == policy.Defer {
		if s != "" {
			s += "; "
		}
		wait := c.MaxWait
		if wait == 0 {
			wait = c.Window
		}
		s += "defers up to " + policy.HumanWindow(wait)
	}
	return s
}

// printBudgets prints, under the counters, what the caps reserve and
// whether they defer.
func printBudgets(a *app, windows []windowCount) {
	for _, w := range windows {
		if w.Budget != "" {
			fmt.Fprintf(a.stdout, "  %s: %s\n", w.Rule, w.Budget)
		}
	}
}
