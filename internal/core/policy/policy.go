// Package policy decides contact intents: pure rules over an intent, the
// customer's preferences and a clock, with no I/O.
//
// Evaluate applies every rule that needs only those inputs and returns a
// Verdict. Rules that need shared counters (rolling-window caps, the
// customer's own maximum frequency, the over-servicing guard) are returned as
// CapChecks and an AgentCheck for the store to check and count atomically,
// so the rules stay here and the atomicity stays in Redis.
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

var classNames = []string{string(ClassCritical), string(ClassTransactional), string(ClassService), string(ClassMarketing)}

func (c Class) valid() bool {
	switch c {
	case ClassCritical, ClassTransactional, ClassService, ClassMarketing:
		return true
	}
	return false
}

// Code is the one-letter form of a class kept in the store's contact ledger:
// c, t, s or m.
func (c Class) Code() string {
	switch c {
	case ClassCritical:
		return "c"
	case ClassTransactional:
		return "t"
	case ClassService:
		return "s"
	case ClassMarketing:
		return "m"
	}
	return "?"
}

// classSet is a set of classes as a bit mask.
type classSet uint8

func (s classSet) has(c Class) bool { return s&classBit(c) != 0 }

func classBit(c Class) classSet {
	switch c {
	case ClassCritical:
		return 1
	case ClassTransactional:
		return 2
	case ClassService:
		return 4
	case ClassMarketing:
		return 8
	}
	return 0
}

// codes returns the ledger codes of the set's classes ("sm").
func (s classSet) codes() string {
	b := make([]byte, 0, 4)
	for _, c := range []Class{ClassCritical, ClassTransactional, ClassService, ClassMarketing} {
		if s.has(c) {
			b = append(b, c.Code()[0])
		}
	}
	return string(b)
}

// Mode says whether a rule decides (enforce) or only reports what it would
// have decided (shadow).
type Mode string

// Rule modes.
const (
	Enforce Mode = "enforce"
	Shadow  Mode = "shadow"
)

// Action is what quiet hours do to an intent: hold it until they end, or
// drop it.
type Action string

// Quiet-hour actions.
const (
	Defer    Action = "defer"
	Suppress Action = "suppress"
)

// Scope says which of a customer's past contacts a cap counts.
type Scope uint8

// Cap scopes. The numeric values are the field index in the store's contact
// ledger, so they must not be renumbered.
const (
	ScopeCustomer    Scope = iota // every contact of the customer
	ScopeChannel                  // contacts on the intent's channel
	ScopeCategory                 // contacts in the intent's category
	ScopeTopic                    // contacts on the intent's topic (a cooldown)
	ScopeSender                   // contacts from the intent's sending service
	ScopeUnsolicited              // unsolicited agent contacts (the over-servicing guard)
)

// LedgerClassField is the index of the contact's class code in a ledger
// member, after the scope fields.
const LedgerClassField = 6

// scopeNames are the scopes a policy file may use for caps; the
// over-servicing guard's scope is configured in its own section.
var scopeNames = [...]string{"customer", "channel", "category", "topic", "sender"}

// String is the scope's name in the policy file ("customer", ...).
func (s Scope) String() string {
	if s == ScopeUnsolicited {
		return "unsolicited"
	}
	return scopeNames[s]
}

// Policy is a validated, compiled policy file. It is immutable: a reload
// builds a new one.
type Policy struct {
	// Version names the policy on every decision it makes.
	Version string
	// Source is the document the policy was parsed from: what the
	// gatekeeper publishes as the policy in force.
	Source []byte
	// FallbackZone is the zone of a customer of whom no time zone, region
	// or phone number is known (unless the policy names a fallback region).
	FallbackZone *time.Location
	// DecisionRetention is how long decisions are kept by intent id.
	DecisionRetention time.Duration
	// LedgerRetention is how far back the store keeps a customer's
	// contacts: the longest window any cap reads.
	LedgerRetention time.Duration
	// ReplyWindow is how long a customer's inbound contact lets replies
	// through as solicited.
	ReplyWindow time.Duration

	categories    map[string]Class
	topics        []Topic // sorted by name
	rules         map[string]Mode
	caps          []Cap
	custFreq      classSet
	custFreqCodes string
	quiet         quietHours
	unsolicited   unsolicitedGuard
	zones         *zoneCache
	// unknownZone is what quiet hours do for a customer of whom no zone,
	// region or phone number is known: defer (check the fallback zones)
	// or suppress.
	unknownZone Action
	// fallbackRegion, when set, gives those customers every zone of a
	// region instead of FallbackZone.
	fallbackRegion string
	// producers is the producers section: who may use which category.
	producers producerGrants
	// consent is the consent section and the categories that require
	// recorded opt-in consent.
	consent consentPolicy
	// digest is the digest section (digest.go).
	digest digestConfig
	// prio holds the categories' priorities and the arbitration window.
	prio priorities
}

// Cap is a rolling-window cap: at most Max contacts of its classes in any
// Window, among the contacts its scope selects.
type Cap struct {
	ID      string
	Scope   Scope
	Window  time.Duration
	Max     int
	Classes []Class
	Mode    Mode
	// Reserve of the Max slots are only for intents of priority
	// ReserveFor or above (0: none reserved).
	Reserve    int
	ReserveFor Priority
	// Action is what the cap does to an intent it blocks: suppress it, or
	// defer it to the instant its window frees a slot, if that comes
	// within MaxWait and before the intent's deadline.
	Action  Action
	MaxWait time.Duration

	set   classSet
	codes string
	rule  string // "cap.<id>", built once
}

func (c *Cap) appliesTo(class Class) bool { return c.set.has(class) }

// unsolicitedGuard is the over-servicing guard's configuration.
type unsolicitedGuard struct {
	customerWindow time.Duration
	customerMax    int
	agentWindow    time.Duration
	agentMax       int
}

// ClassOf reports the class of a category and whether the policy names it.
func (p *Policy) ClassOf(category string) (Class, bool) {
	c, ok := p.categories[category]
	return c, ok
}

// Caps returns the policy's caps in file order.
func (p *Policy) Caps() []Cap { return p.caps }

// RuleMode returns the mode of a rule by id ("quiet_hours", "cap.daily").
func (p *Policy) RuleMode(id string) Mode {
	if m, ok := p.rules[id]; ok {
		return m
	}
	for i := range p.caps {
		if "cap."+p.caps[i].ID == id {
			return p.caps[i].Mode
		}
	}
	return Enforce
}

// Input is everything a decision depends on besides shared counters.
type Input struct {
	Intent *hushv1.ContactIntent
	// Prefs are the customer's preferences; nil when none are recorded.
	Prefs *hushv1.Preferences
	// Now is the decision's timestamp.
	Now time.Time
	// ReplyUntil is when the reply window of the thread the intent's
	// in_reply_to names closes; zero when there is none. The store verifies
	// it in the same step that records the decision.
	ReplyUntil time.Time
	// Publisher is who published the intent, as the bus proves it; nil
	// when the caller vouches for the intent's sender.service itself (a
	// simulation over recorded intents, a capacity estimate).
	Publisher *Publisher
	// Digest marks a released digest, decided as one contact: it is never
	// folded again, and quiet hours were settled when its release was
	// scheduled.
	Digest bool
}

// Publisher is the producer whose credential published an intent. NATS lets
// each producer's credential publish only on hush.intent.<its name>.>, so
// the producer token of the subject is the sender's identity; the
// sender.service the intent carries must agree with it.
type Publisher struct {
	// Subject is the subject the intent was published on.
	Subject string
	// Producer is the subject's producer token; "" when the subject names
	// no producer.
	Producer string
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
// Classes holds the ledger codes of the classes it counts; empty counts
// every class.
type CapCheck struct {
	Rule    string
	Scope   Scope
	Value   string
	Window  time.Duration
	Max     int
	Shadow  bool
	Code    hushv1.ReasonCode
	Classes string
	// Reserve is how many of the Max slots the intent may not use: those
	// reserved for priorities above its own (ReservedFor and up).
	Reserve     int
	ReservedFor Priority
	// MaxWait, when positive, defers a blocked intent to the instant a
	// slot frees, if that is within MaxWait (and its deadline); 0
	// suppresses it.
	MaxWait time.Duration
}

// AgentCheck is the per-agent cap on unsolicited contacts. It lives outside
// the customer's Redis slot, so the store reserves budget before the
// decision and confirms or releases it after.
type AgentCheck struct {
	Rule   string
	Agent  string
	Window time.Duration
	Max    int
	Shadow bool
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
	// Class is the intent's class, kept with the contact in the ledger.
	Class Class
	// Unsolicited marks an agent contact outside a reply window; it is
	// counted as such for the per-customer guard.
	Unsolicited bool
	// Agent is the per-agent cap to reserve before the store decides; its
	// Agent field is empty when none applies.
	Agent AgentCheck
	// Digest says how a folded intent's digest is released (Outcome
	// folded; see digest.go).
	Digest DigestFold
}

// Approved reports whether the rules let the intent through so far.
func (v *Verdict) Approved() bool { return v.Outcome == hushv1.Outcome_OUTCOME_APPROVED }
