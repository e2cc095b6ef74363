package main

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// countersFlags are the flags of counters.
type countersFlags struct {
	At string `conf:"at" help:"evaluate the windows at this time (RFC 3339; default now)"`
}

// window is one live window of a customer.
type window struct {
	Rule      string `json:"rule"`
	Scope     string `json:"scope"`
	Value     string `json:"value,omitempty"`
	Window    string `json:"window"`
	Count     int    `json:"count"`
	Max       int    `json:"max"`
	Remaining int    `json:"remaining"`
	// NextSlot is when the window allows a contact again, when it is full.
	NextSlot string `json:"next_slot,omitempty"`
	Mode     string `json:"mode"`
}

func counters(a *app, args []string) error {
	var f countersFlags
	pos, err := a.parse(args, 1, 1, &f)
	if err != nil {
		return err
	}
	at := a.now()
	if f.At != "" {
		if at, err = time.Parse(time.RFC3339, f.At); err != nil {
			return fmt.Errorf("--at: want RFC 3339, got %q", f.At)
		}
	}
	pol, err := a.policy()
	if err != nil {
		return err
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	customer := pos[0]
	prefs, _, err := st.Preferences(a.ctx, customer)
	if err != nil {
		return err
	}
	checks := liveChecks(pol, prefs)
	longest := time.Duration(0)
	for _, c := range checks {
		longest = max(longest, c.Window)
	}
	ledger, err := st.Ledger(a.ctx, customer, at.Add(-longest))
	if err != nil {
		return err
	}
	if prefs == nil && len(ledger) == 0 {
		return a.noRecord(fmt.Sprintf("customer %s has no preferences and no contacts in the %s before %s", customer, policy.FormatWindow(longest), ts(at)))
	}
	out := windows(checks, ledger, at)
	if a.c.JSON {
		return a.printJSON(map[string]any{"customer": customer, "at": ts(at), "contacts": len(ledger), "windows": out,
			"policy": map[string]string{"version": pol.Version, "source": a.polSource}})
	}
	fmt.Fprintf(a.stdout, "customer %s at %s: %d contacts in the last %s\n", customer, ts(at), len(ledger), policy.FormatWindow(longest))
	fmt.Fprintf(a.stdout, "policy %s (%s)\n\n", pol.Version, a.polSource)
	rows := make([][]string, 0, len(out))
	for _, w := range out {
		rows = append(rows, []string{w.Rule, w.Scope, orDash(w.Value), w.Window, strconv.Itoa(w.Count), strconv.Itoa(w.Max),
			strconv.Itoa(w.Remaining), orDash(w.NextSlot), w.Mode})
	}
	a.table([]string{"LIMIT", "SCOPE", "VALUE", "WINDOW", "COUNT", "MAX", "REMAINING", "NEXT SLOT", "MODE"}, rows)
	return nil
}

// liveChecks are the windows a customer can have: the policy's caps (each
// scope value of a scoped cap is a window of its own; Value is filled in by
// windows), then the customer's own maximum frequency.
func liveChecks(pol *policy.Policy, prefs *hushv1.Preferences) []policy.CapCheck {
	var out []policy.CapCheck
	for _, c := range pol.Caps() {
		out = append(out, c.Check(""))
	}
	if mf := prefs.GetMaxFrequency(); mf != nil {
		out = append(out, policy.CapCheck{Rule: "preferences.max_frequency", Scope: policy.ScopeCustomer,
			Window: mf.GetWindow().AsDuration(), Max: int(mf.GetCount()), Classes: pol.CustomerFrequencyClasses()})
	}
	return out
}

// windows reads each check's windows at a time from the ledger: one per
// scope value the window holds contacts of, in value order.
func windows(checks []policy.CapCheck, ledger []store.Contact, at time.Time) []window {
	var out []window
	for _, c := range checks {
		values := []string{""}
		if c.Scope != policy.ScopeCustomer {
			values = scopeValues(c, ledger, at)
		}
		for _, v := range values {
			c.Value = v
			n, next := c.Fill(ledger, at)
			w := window{Rule: c.Rule, Scope: c.Scope.String(), Value: v, Window: policy.FormatWindow(c.Window), Count: n, Max: c.Max,
				Remaining: max(c.Max-n, 0), Mode: string(c.Mode())}
			if !next.IsZero() {
				w.NextSlot = ts(next)
			}
			out = append(out, w)
		}
	}
	return out
}

// scopeValues are the values of a scoped check's scope that its window
// holds contacts of at a time, sorted.
func scopeValues(c policy.CapCheck, ledger []store.Contact, at time.Time) []string {
	seen := map[string]bool{}
	for _, e := range ledger {
		c.Value = e.Value(c.Scope)
		if !seen[c.Value] && e.At.After(at.Add(-c.Window)) && !e.At.After(at) && c.Counts(&e) {
			seen[c.Value] = true
		}
	}
	values := make([]string, 0, len(seen))
	for v := range seen {
		values = append(values, v)
	}
	sort.Strings(values)
	return values
}
