package policy

import (
	"fmt"
	"time"
)

// rawArbitration is the policy's arbitration section.
type rawArbitration struct {
	// Window is how long an intent waits for competitors ("150ms"); "0"
	// or absent: no arbitration.
	Window string `yaml:"window"`
}

// rawReserve reserves the last Count slots of a cap for priority For and
// above.
type rawReserve struct {
	Count int    `yaml:"count"`
	For   string `yaml:"for"`
}

// maxArbitration bounds the arbitration window: every capped intent waits
// it, so it must stay a fraction of a decision's time budget.
const maxArbitration = 2 * time.Second

// priorities compiles the categories' priorities and the arbitration
// window.
func (c *compiler) priorities(p *Policy, r *rawPolicy) {
	for name, cat := range r.Categories {
		if cat.Priority == "" {
			continue
		}
		pr, ok := ParsePriority(cat.Priority)
		if !ok {
			c.fail(fmt.Sprintf("want low, normal, high or urgent, got %q", cat.Priority), "categories", name, "priority")
			continue
		}
		if p.prio.category == nil {
			p.prio.category = make(map[string]Priority)
		}
		p.prio.category[name] = pr
		p.prio.used = true
	}
	if a := r.Arbitration; a != nil && a.Window != "" && a.Window != "0" {
		d, err := time.ParseDuration(a.Window)
		switch {
		case err != nil || d < 0:
			c.fail(fmt.Sprintf("want a duration like 150ms, got %q", a.Window), "arbitration", "window")
		case d > maxArbitration:
			c.fail("at most 2s: every capped intent waits this long before it is decided", "arbitration", "window")
		default:
			p.prio.arbitration = d
			p.prio.used = p.prio.used || d > 0
		}
	}
	for i := range p.caps {
		p.prio.used = p.prio.used || p.caps[i].Reserve > 0
	}
}

// capBudget compiles a cap's reserved budget and its action.
func (c *compiler) capBudget(cp *Cap, rc rawCap, i int) {
	cp.Action = c.action(rc.Action, Suppress, "caps", i, "action")
	if rc.MaxWait != "" {
		if cp.Action != Defer {
			c.fail("only a cap whose action is defer waits", "caps", i, "max_wait")
		}
		cp.MaxWait = c.duration(rc.MaxWait, "caps", i, "max_wait")
		if cp.MaxWait > maxCapWindow {
			c.fail("at most 400d", "caps", i, "max_wait")
		}
	}
	if r := rc.Reserve; r != nil {
		pr, ok := ParsePriority(r.For)
		switch {
		case !ok || pr == PriorityNone:
			c.fail(fmt.Sprintf("want normal, high or urgent, got %q", r.For), "caps", i, "reserve", "for")
		case pr == PriorityLow:
			c.fail("a reserve for low and above is for everyone; reserve for normal, high or urgent", "caps", i, "reserve", "for")
		}
		if r.Count < 1 || rc.Max > 0 && r.Count >= rc.Max {
			c.fail(fmt.Sprintf("want 1 to %d: at least one slot must stay open to every priority", max(rc.Max-1, 1)), "caps", i, "reserve", "count")
		}
		cp.Reserve, cp.ReserveFor = r.Count, pr
	}
}

// maxWait is how long the cap defers an intent at most: 0 when it
// suppresses; its window when the policy gives no maximum (a slot always
// frees within one window).
func (c *Cap) maxWait() time.Duration {
	if c.Action != Defer {
		return 0
	}
	if c.MaxWait > 0 {
		return c.MaxWait
	}
	return c.Window
}
