// Package policy decides contact intents: pure rules over an intent, the
// customer's preferences and a clock, with no I/O.
//
// Evaluate applies every rule that needs only those inputs and returns a
// Verdict. Rules that need shared counters (rolling-window caps) are returned
// as CapChecks for the store to check and count in one atomic step, so the
// rules stay here and the atomicity stays in Redis.
package policy

import (
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Class is what a category means to the rules.
type Class string

// The classes a category can belong to.
const (
	// ClassCritical (security, fraud, legal notices) is approved and counted
	// but never blocked by preferences or caps.
	ClassCritical Class = "critical"
	// ClassTransactional (receipts, password resets) ignores caps and modes
	// but respects hard opt-outs.
	ClassTransactional Class = "transactional"
	// ClassService is useful but unrequested (service updates).
	ClassService Class = "service"
	// ClassMarketing is promotional (campaigns, surveys).
	ClassMarketing Class = "marketing"
)

func (c Class) valid() bool {
	switch c {
	case ClassCritical, ClassTransactional, ClassService, ClassMarketing:
		return true
	}
	return false
}

// Mode says whether a rule decides (enforce) or only reports what it would
// have decided (shadow).
type Mode string

// Rule modes.
const (
	Enforce Mode = "enforce"
	Shadow  Mode = "shadow"
)

// Scope says which of a customer's past contacts a cap counts.
type Scope uint8

// Cap scopes. The numeric values are the field index in the store's contact
// ledger, so they must not be renumbered.
const (
	ScopeCustomer Scope = iota // every contact of the customer
	ScopeChannel               // contacts on the intent's channel
	ScopeCategory              // contacts in the intent's category
	ScopeTopic                 // contacts on the intent's topic (a cooldown)
	ScopeSender                // contacts from the intent's sending service
)

var scopeNames = [...]string{"customer", "channel", "category", "topic", "sender"}

func (s Scope) String() string { return scopeNames[s] }

// Policy is a validated, compiled policy file. It is immutable: a reload
// builds a new one.
type Policy struct {
	// Version names the policy on every decision it makes.
	Version string
	// FallbackZone is used when a customer's time zone is unknown.
	FallbackZone *time.Location
	// DecisionRetention is how long decisions are kept by intent id.
	DecisionRetention time.Duration
	// LedgerRetention is how far back the store keeps a customer's
	// contacts: the longest window any cap reads.
	LedgerRetention time.Duration

	categories map[string]Class
	rules      map[string]Mode
	caps       []Cap
}

// Cap is a rolling-window cap: at most Max contacts in any Window.
type Cap struct {
	ID      string
	Scope   Scope
	Window  time.Duration
	Max     int
	Classes []Class
	Mode    Mode
	// rule is "cap.<ID>", built once so that Evaluate does not allocate it.
	rule string
}

func (c *Cap) appliesTo(class Class) bool {
	for _, k := range c.Classes {
		if k == class {
			return true
		}
	}
	return false
}

// ClassOf reports the class of a category and whether the policy names it.
func (p *Policy) ClassOf(category string) (Class, bool) {
	c, ok := p.categories[category]
	return c, ok
}

// Caps returns the policy's caps in file order.
func (p *Policy) Caps() []Cap { return p.caps }

// Input is everything a decision depends on besides shared counters.
type Input struct {
	Intent *hushv1.ContactIntent
	// Prefs are the customer's preferences; nil when none are recorded.
	Prefs *hushv1.Preferences
	// Now is the decision's timestamp.
	Now time.Time
}

// Reason is one rule's verdict, ready to go on a Decision.
type Reason struct {
	Code    hushv1.ReasonCode
	Rule    string
	Message string
}

// Proto returns the reason as a message.
func (r Reason) Proto() *hushv1.Reason {
	return &hushv1.Reason{Code: r.Code, Rule: r.Rule, Message: r.Message}
}

// CapCheck is a cap the store must check against the customer's contact
// ledger before counting an approved intent. Value is the intent's value of
// the cap's scope (its channel, category, ...); empty for ScopeCustomer.
type CapCheck struct {
	Rule   string
	Scope  Scope
	Value  string
	Window time.Duration
	Max    int
	Shadow bool
	Code   hushv1.ReasonCode
}

// Verdict is what the rules decided before counters are consulted.
type Verdict struct {
	// Outcome is approved when no enforcing rule said no; the store may
	// still turn an approval into a cap suppression.
	Outcome hushv1.Outcome
	// Reason is the deciding rule when Outcome is not approved.
	Reason Reason
	// Shadow holds what shadow-mode rules would have decided.
	Shadow []Reason
	// ReleaseAt is set for deferrals.
	ReleaseAt time.Time
	// Caps must be checked and counted atomically by the store when the
	// outcome is approved. Critical intents carry none: they are counted
	// but never capped.
	Caps []CapCheck
}

// Approved reports whether the rules let the intent through so far.
func (v *Verdict) Approved() bool { return v.Outcome == hushv1.Outcome_OUTCOME_APPROVED }
