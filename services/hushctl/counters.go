package main

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
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
	longest := time.Duration(0)
	for _, c := range pol.Caps() {
		longest = max(longest, c.Window)
	}
	if w := prefs.GetMaxFrequency().GetWindow().AsDuration(); w > longest {
		longest = w
	}
	ledger, err := st.Ledger(a.ctx, customer, at.Add(-longest))
	if err != nil {
		return err
	}
	var out []window
	fill := func(rule, scope, value string, d time.Duration, limit int, mode string, match func(store.Contact) bool) {
		var times []time.Time
		for _, e := range ledger {
			if e.At.After(at.Add(-d)) && !e.At.After(at) && match(e) {
				times = append(times, e.At)
			}
		}
		w := window{Rule: rule, Scope: scope, Value: value, Window: policy.FormatWindow(d), Count: len(times), Max: limit,
			Remaining: max(limit-len(times), 0), Mode: mode}
		if len(times) >= limit && limit > 0 {
			// As the store says it: the window opens again when the oldest
			// contact that keeps it full slides out.
			w.NextSlot = ts(times[len(times)-limit].Add(d))
		}
		out = append(out, w)
	}
	for _, c := range pol.Caps() {
		if c.Scope == policy.ScopeCustomer {
			fill("cap."+c.ID, c.Scope.String(), "", c.Window, c.Max, string(c.Mode), func(e store.Contact) bool { return c.Counts(e.Class) })
			continue
		}
		values := map[string]bool{}
		for _, e := range ledger {
			if e.At.After(at.Add(-c.Window)) && !e.At.After(at) && c.Counts(e.Class) {
				values[scopeValue(e, c.Scope)] = true
			}
		}
		keys := make([]string, 0, len(values))
		for v := range values {
			keys = append(keys, v)
		}
		sort.Strings(keys)
		for _, v := range keys {
			fill("cap."+c.ID, c.Scope.String(), v, c.Window, c.Max, string(c.Mode), func(e store.Contact) bool { return c.Counts(e.Class) && scopeValue(e, c.Scope) == v })
		}
	}
	if mf := prefs.GetMaxFrequency(); mf != nil {
		fill("preferences.max_frequency", "customer", "", mf.GetWindow().AsDuration(), int(mf.GetCount()), "enforce", func(e store.Contact) bool { return pol.CustomerFrequencyCounts(e.Class) })
	}
	if a.c.JSON {
		return a.printJSON(map[string]any{"customer": customer, "at": ts(at), "contacts": len(ledger), "windows": out})
	}
	fmt.Fprintf(a.stdout, "customer %s at %s: %d contacts in the last %s\n\n", customer, ts(at), len(ledger), policy.FormatWindow(longest))
	rows := make([][]string, 0, len(out))
	for _, w := range out {
		rows = append(rows, []string{w.Rule, w.Scope, orDash(w.Value), w.Window, strconv.Itoa(w.Count), strconv.Itoa(w.Max),
			strconv.Itoa(w.Remaining), orDash(w.NextSlot), w.Mode})
	}
	a.table([]string{"LIMIT", "SCOPE", "VALUE", "WINDOW", "COUNT", "MAX", "REMAINING", "NEXT SLOT", "MODE"}, rows)
	return nil
}
