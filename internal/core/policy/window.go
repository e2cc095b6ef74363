package policy

import (
	"strings"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Contact is one counted contact in a customer's ledger: the fields a cap
// can be scoped to, in Scope order, and the class code.
type Contact struct {
	IntentID, Channel, Category, Topic, Sender string
	At                                         time.Time
	// Unsolicited marks an agent contact outside a reply window.
	Unsolicited bool
	// Class is the one-letter class code (Class.Code).
	Class string
}

// Value is the contact's value of a scope: its channel, category, ...; ""
// for ScopeCustomer, "u" for ScopeUnsolicited when it is unsolicited.
func (c *Contact) Value(s Scope) string {
	switch s {
	case ScopeChannel:
		return c.Channel
	case ScopeCategory:
		return c.Category
	case ScopeTopic:
		return c.Topic
	case ScopeSender:
		return c.Sender
	case ScopeUnsolicited:
		if c.Unsolicited {
			return "u"
		}
	}
	return ""
}

// Check is the cap's window for one value of its scope (a channel, a
// category, ...; "" for ScopeCustomer): the form the store checks and
// counts, and that tools read a ledger with.
func (c *Cap) Check(value string) CapCheck {
	return CapCheck{
		Rule:    c.rule,
		Scope:   c.Scope,
		Value:   value,
		Window:  c.Window,
		Max:     c.Max,
		Shadow:  c.Mode == Shadow,
		Code:    hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP,
		Classes: c.codes,
		// (Reserve depends on the intent: see policyCaps.)
		ReservedFor: c.ReserveFor,
		MaxWait:     c.maxWait(),
	}
}

// Counts reports whether a ledger contact of the given class code counts
// towards the cap, exactly as the store's decision script counts it: a cap
// counts contacts of its own classes, and contacts recorded without a class
// count towards no class-filtered cap.
func (c *Cap) Counts(code string) bool { return countsCode(c.codes, code) }

// CustomerFrequencyCounts reports whether a ledger contact of the given class
// code counts towards a customer's own maximum frequency.
func (p *Policy) CustomerFrequencyCounts(code string) bool { return countsCode(p.custFreqCodes, code) }

// CustomerFrequencyClasses returns the ledger codes of the classes a
// customer's own maximum frequency counts.
func (p *Policy) CustomerFrequencyClasses() string { return p.custFreqCodes }

func countsCode(codes, code string) bool {
	if codes == "" {
		return true
	}
	return code != "" && strings.Contains(codes, code)
}

// Counts reports whether the window counts a ledger contact, whenever it
// was made: the contact is in the window's scope value and of a class it
// counts. It is the rule the store's decision script applies.
func (c *CapCheck) Counts(e *Contact) bool {
	return (c.Scope == ScopeCustomer || e.Value(c.Scope) == c.Value) && countsCode(c.Classes, e.Class)
}

// Fill is how full the window is at a time, read from a customer's ledger
// (oldest first): how many contacts it counts in (at-Window, at], and, when
// it is full, when it allows a contact again: when the oldest contact that
// keeps it full slides out, as the store says it.
func (c *CapCheck) Fill(ledger []Contact, at time.Time) (count int, next time.Time) {
	since := at.Add(-c.Window)
	var times []time.Time
	for i := range ledger {
		e := &ledger[i]
		if e.At.After(since) && !e.At.After(at) && c.Counts(e) {
			times = append(times, e.At)
		}
	}
	if len(times) >= c.Max && c.Max > 0 {
		next = times[len(times)-c.Max].Add(c.Window)
	}
	return len(times), next
}

// Mode is the window's rule mode.
func (c *CapCheck) Mode() Mode {
	if c.Shadow {
		return Shadow
	}
	return Enforce
}
