// Package simulate replays recorded contact intents against a policy with a
// private, in-memory ledger, so that a candidate policy can be compared with
// the one in force without touching the live counters.
package simulate

import (
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Ledger is a private contact ledger: every customer's counted contacts and
// every agent's unsolicited ones, as the store keeps them in Redis. It
// decides a verdict as the gatekeeper and the store do together (the
// agent's budget reserved first, then every cap checked in order, the first
// enforcing one that is full deciding, and the contact counted when it stays
// approved), with the windows read by policy.CapCheck.Fill, the code the
// store's semantics are written down in. It is not safe for concurrent use.
type Ledger struct {
	// retention is how far back contacts are kept (the longest window).
	retention time.Duration
	customers map[string]*[]policy.Contact
	agents    map[string]*[]policy.Contact
	// terse leaves a cap's sentence to Result.Message.
	terse bool
}

// NewLedger returns an empty ledger keeping contacts for retention (the
// policy's LedgerRetention, or longer).
func NewLedger(retention time.Duration) *Ledger { return newLedger(retention, false) }

func newLedger(retention time.Duration, terse bool) *Ledger {
	return &Ledger{retention: retention, customers: map[string]*[]policy.Contact{}, agents: map[string]*[]policy.Contact{}, terse: terse}
}

// of returns the ledger of a key, created empty.
func of(m map[string]*[]policy.Contact, key string) *[]policy.Contact {
	l := m[key]
	if l == nil {
		l = new([]policy.Contact)
		m[key] = l
	}
	return l
}

// Result is a decision as the simulation makes it: the outcome, the deciding
// reason when not approved, and what shadow rules would have decided.
type Result struct {
	Outcome hushv1.Outcome
	Reason  policy.Reason
	Shadow  []policy.Reason

	// hit is the cap that decided, when its sentence is left to Message.
	hit   *policy.CapCheck
	count int
	next  time.Time
}

// Message is the deciding reason's sentence.
func (r *Result) Message() string {
	if r.Reason.Message == "" && r.hit != nil {
		return policy.CapMessage(*r.hit, r.count, r.next)
	}
	return r.Reason.Message
}

// Decide checks an evaluated verdict against the ledger at now and counts
// the contact when it is approved, exactly as store.Decide and the
// gatekeeper's agent budget do in Redis.
func (l *Ledger) Decide(it *hushv1.ContactIntent, v *policy.Verdict, now time.Time) Result {
	r := Result{Outcome: v.Outcome, Reason: v.Reason, Shadow: v.Shadow}
	agentHeld := false
	if a := v.Agent; v.Approved() && a.Agent != "" {
		chk := policy.CapCheck{Scope: policy.ScopeCustomer, Window: a.Window, Max: a.Max}
		n, next := chk.Fill(*of(l.agents, a.Agent), now)
		full := n >= a.Max
		switch {
		case full && !a.Shadow:
			r.Outcome, r.Reason = hushv1.Outcome_OUTCOME_SUPPRESSED, policy.Reason{Code: hushv1.ReasonCode_REASON_CODE_AGENT_CAP, Rule: a.Rule, Message: policy.AgentCapMessage(a, n, next)}
		case full:
			r.Shadow = append(r.Shadow[:len(r.Shadow):len(r.Shadow)], policy.Reason{Code: hushv1.ReasonCode_REASON_CODE_AGENT_CAP, Rule: a.Rule, Message: policy.AgentCapMessage(a, n, next)})
			agentHeld = true
		default:
			agentHeld = true
		}
	}
	if r.Outcome != hushv1.Outcome_OUTCOME_APPROVED {
		return r
	}
	ledger := of(l.customers, it.GetCustomerId())
	for i := range v.Caps {
		c := &v.Caps[i]
		n, next := c.Fill(*ledger, now)
		if n < c.Max {
			continue
		}
		if c.Shadow {
			r.Shadow = append(r.Shadow[:len(r.Shadow):len(r.Shadow)], policy.Reason{Code: c.Code, Rule: c.Rule, Message: policy.CapMessage(*c, n, next)})
			continue
		}
		r.Outcome, r.Reason = hushv1.Outcome_OUTCOME_SUPPRESSED, policy.Reason{Code: c.Code, Rule: c.Rule}
		if l.terse {
			r.hit, r.count, r.next = c, n, next
		} else {
			r.Reason.Message = policy.CapMessage(*c, n, next)
		}
		return r
	}
	if v.Capped() {
		*ledger = add(*ledger, policy.Contact{IntentID: it.GetId(), Channel: it.GetChannel(), Category: it.GetCategory(),
			Topic: it.GetTopic(), Sender: it.GetSender().GetService(), At: now, Unsolicited: v.Unsolicited, Class: v.Class.Code()}, l.retention)
	}
	if agentHeld {
		a := of(l.agents, v.Agent.Agent)
		*a = add(*a, policy.Contact{IntentID: it.GetId(), At: now}, max(l.retention, v.Agent.Window))
	}
	return r
}

// add appends a contact and forgets those older than the retention, as the
// store trims a ledger on every decision.
func add(ledger []policy.Contact, c policy.Contact, retention time.Duration) []policy.Contact {
	since := c.At.Add(-retention)
	drop := 0
	for drop < len(ledger) && !ledger[drop].At.After(since) {
		drop++
	}
	if drop > 0 && drop*2 >= len(ledger) {
		ledger = append(ledger[:0], ledger[drop:]...)
	} else if drop > 0 {
		ledger = ledger[drop:]
	}
	return append(ledger, c)
}

// Contacts returns a customer's counted contacts, oldest first.
func (l *Ledger) Contacts(customer string) []policy.Contact {
	if c := l.customers[customer]; c != nil {
		return *c
	}
	return nil
}
