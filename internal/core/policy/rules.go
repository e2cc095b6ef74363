package policy

import (
	"slices"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Rule ids of the rules that are not caps. Caps are named "cap.<id>". Each
// can run in enforce or shadow mode (the policy file's rules section).
const (
	RuleExpired               = "expired"
	RuleConsentRevoked        = "consent_revoked"
	RuleOptOut                = "opt_out.channel"
	RuleCategoryOptOut        = "opt_out.category"
	RuleDestinationSuppressed = "destination_suppressed"
	RuleCareHold              = "care_hold"
	RuleDoNothing             = "mode.do_nothing"
	RuleEssentialOnly         = "mode.essential_only"
	RuleTopicOptOut           = "opt_out.topic"
	RuleQuietHours            = "quiet_hours"
	RuleUnsolicitedPurpose    = "unsolicited.purpose"
	RuleCustomerFrequency     = "customer_frequency"
	RuleCaps                  = "cap.<id>"
	RuleUnsolicitedCustomer   = "unsolicited.customer_cap"
	RuleUnsolicitedAgent      = "unsolicited.agent_cap"
)

// rule is one entry of the rule list. A rule either objects to an intent
// from its inputs alone (object), or is counted: it adds a check the store
// makes against the customer's counters (count), or against the agent's
// (reserve).
type rule struct {
	id string
	// critical rules apply to critical intents too; they come first, and
	// the rules after them are bypassed for critical intents.
	critical bool
	// prefs rules object only to what the customer asked for: without
	// preferences they are skipped.
	prefs   bool
	object  func(p *Policy, s subject) (objection, bool)
	count   func(p *Policy, s subject, caps []CapCheck) []CapCheck
	reserve func(p *Policy, s subject) AgentCheck
}

// rules is every rule in the order of the design: the producer's right to
// the category (after its identity, see authenticate), expired, critical bypass,
// hard opt-outs, care hold and the customer's mode, topic preferences,
// quiet hours, the over-servicing guard's purpose, then the counted rules
// (the customer's own frequency, the policy's caps, the unsolicited caps).
// Rule ids, the rules table of docs/policy.md and the table tests follow
// this list; a new rule is one entry here.
var rules = [...]rule{
	{id: RuleProducerCategory, critical: true, object: producerCategory},
	{id: RuleExpired, critical: true, object: expired},
	{id: RuleConsentRevoked, prefs: true, object: consentRevoked},
	{id: RuleStopKeyword, object: stopKeyword},
	{id: RuleOptOut, prefs: true, object: channelOptOut},
	{id: RuleCategoryOptOut, prefs: true, object: categoryOptOut},
	{id: RuleDestinationSuppressed, prefs: true, object: destinationSuppressed},
	{id: RuleConsentRequired, object: consentRequired},
	{id: RuleCareHold, prefs: true, object: careHold},
	{id: RuleDoNothing, prefs: true, object: doNothing},
	{id: RuleEssentialOnly, prefs: true, object: essentialOnly},
	{id: RuleTopicOptOut, prefs: true, object: topicOptOut},
	{id: RuleDigest, object: digestRule},
	{id: RuleQuietHours, object: quietHoursRule},
	{id: RuleUnsolicitedPurpose, object: unsolicitedPurpose},
	{id: RuleStopConfirmation, prefs: true, count: stopConfirmation},
	{id: RuleCustomerFrequency, count: customerFrequency},
	{id: RuleCaps, count: policyCaps},
	{id: RuleUnsolicitedCustomer, count: unsolicitedCustomer},
	{id: RuleUnsolicitedAgent, reserve: unsolicitedAgent},
}

// RuleOrder returns the id of every rule in the order they are applied,
// "cap.<id>" standing for the policy's caps.
func RuleOrder() []string {
	ids := make([]string, len(rules))
	for i := range rules {
		ids[i] = rules[i].id
	}
	return ids
}

// RuleIDs lists the rules a policy file may set a mode for, in the order
// they are applied. (Caps set their mode on the cap.)
var RuleIDs = slices.DeleteFunc(RuleOrder(), func(id string) bool { return id == RuleCaps })

// subject is what every rule reads: the input and what follows from it.
// Rules take it by value, so that nothing of an evaluation escapes to the
// heap through the rule functions; it is kept to eight words so that it
// is passed in registers.
type subject struct {
	it    *hushv1.ContactIntent
	prefs *hushv1.Preferences
	now   time.Time
	class Class
	is    facts
}

// facts are what follows from the intent and the reply window.
type facts uint8

const (
	// isReply is a reply inside the reply window of the thread it answers.
	isReply facts = 1 << iota
	// isAgent is a contact an agent initiated.
	isAgent
	// isDigest is a released digest, decided as one contact.
	isDigest
)

func (s subject) reply() bool { return s.is&isReply != 0 }
func (s subject) agent() bool { return s.is&isAgent != 0 }

// unsolicited is an agent contact outside a reply window.
func (s subject) unsolicited() bool { return s.is&(isAgent|isReply) == isAgent }

// objection is a rule saying no: a suppression, or a deferral to until.
type objection struct {
	code    hushv1.ReasonCode
	message string
	until   time.Time
	// fold, when set, folds the intent into a digest released at until;
	// it names the trigger ("schedule", "wake"). See digest.go.
	fold string
	// wake is when a digest the fold fills up may be released (now, or
	// the end of quiet hours).
	wake time.Time
}

// Evaluate authenticates the intent's sender, then applies the rules of the
// rule list in order. The first enforcing rule that objects decides; shadow
// rules only add to Verdict.Shadow. Counted rules become checks for the
// store.
func (p *Policy) Evaluate(in Input) Verdict {
	it := in.Intent
	s := subject{it: it, prefs: in.Prefs, now: in.Now, class: p.categories[it.GetCategory()]}
	if it.GetInReplyTo() != "" && in.Now.Before(in.ReplyUntil) {
		s.is |= isReply
	}
	if it.GetInitiator() == "agent" {
		s.is |= isAgent
	}
	if in.Digest {
		s.is |= isDigest
	}
	v := Verdict{Outcome: hushv1.Outcome_OUTCOME_APPROVED, Class: s.class}
	if p.authenticate(&v, in) {
		return v
	}
	var caps []CapCheck
	critical, noPrefs := s.class == ClassCritical, s.prefs == nil
	for i := range rules {
		r := &rules[i]
		switch {
		case critical && !r.critical:
			return v // critical bypass: counted, never held back
		case noPrefs && r.prefs:
		case r.count != nil:
			caps = r.count(p, s, caps)
		case r.reserve != nil:
			v.Agent = r.reserve(p, s)
		default:
			if o, no := r.object(p, s); no && p.decide(&v, r.id, o) {
				return v
			}
		}
	}
	v.Caps, v.Unsolicited = caps, s.unsolicited()
	return v
}

// decide applies a rule that says no: in enforce mode it becomes the verdict
// (and decide reports true); in shadow mode it is only recorded.
func (p *Policy) decide(v *Verdict, rule string, o objection) bool {
	r := Reason{Code: o.code, Rule: rule, Message: o.message}
	if p.rules[rule] == Shadow {
		v.Shadow = append(v.Shadow, r)
		return false
	}
	v.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
	v.Reason = r
	v.Caps = nil
	if !o.until.IsZero() {
		v.Outcome = hushv1.Outcome_OUTCOME_DEFERRED
		v.ReleaseAt = o.until.UTC()
	}
	if o.fold != "" {
		p.fold(v, o)
	}
	return true
}

func expired(_ *Policy, s subject) (objection, bool) {
	na := s.it.GetNotAfter()
	if na == nil || s.now.Before(na.AsTime()) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_EXPIRED,
		message: "deadline " + Stamp(na.AsTime()) + " passed before a decision"}, true
}

// Hard opt-outs: every class but critical respects them.

func consentRevoked(_ *Policy, s subject) (objection, bool) {
	return objection{code: hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED,
		message: "customer revoked all consent to be contacted"}, s.prefs.GetConsentRevoked()
}

func channelOptOut(_ *Policy, s subject) (objection, bool) {
	if !slices.Contains(s.prefs.GetOptedOutChannels(), s.it.GetChannel()) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT,
		message: "customer unsubscribed from " + s.it.GetChannel()}, true
}

func categoryOptOut(_ *Policy, s subject) (objection, bool) {
	if !slices.Contains(s.prefs.GetOptedOutCategories(), s.it.GetCategory()) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_CATEGORY_OPTED_OUT,
		message: "customer unsubscribed from " + s.it.GetCategory() + " contacts"}, true
}

func destinationSuppressed(_ *Policy, s subject) (objection, bool) {
	dest, list := s.it.GetDestination(), s.prefs.GetSuppressedDestinations()
	no := dest != "" && len(list) > 0 && slices.Contains(list, HashDestination(dest))
	return objection{code: hushv1.ReasonCode_REASON_CODE_DESTINATION_SUPPRESSED,
		message: "the destination is on the customer's suppression list"}, no
}

// careHold pauses contacts while staff hold them; only an agent's reply
// inside a reply window passes.
func careHold(_ *Policy, s subject) (objection, bool) {
	h := s.prefs.GetCareHold()
	if h == nil || h.GetUntil() != nil && !s.now.Before(h.GetUntil().AsTime()) || s.agent() && s.reply() {
		return objection{}, false
	}
	msg := "contacts paused by staff (care hold)"
	if h.GetUntil() != nil {
		msg += " until " + Stamp(h.GetUntil().AsTime())
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_CARE_HOLD, message: msg}, true
}

// modeApplies reports whether the customer's mode at the intent's time is
// m and blocks the intent: what each mode lets through is modeClasses, the
// table the preference page words its promises from.
func modeApplies(s subject, m hushv1.Mode) bool {
	if effectiveMode(s.prefs, s.now) != m {
		return false
	}
	for _, mc := range modeClasses {
		if mc.mode == m {
			return !mc.all && !(mc.replies && s.reply()) && !slices.Contains(mc.classes, s.class)
		}
	}
	return false
}

func doNothing(_ *Policy, s subject) (objection, bool) {
	if !modeApplies(s, hushv1.Mode_MODE_DO_NOTHING) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_DO_NOTHING,
		message: "customer asked to be left alone" + untilPhrase(s.prefs)}, true
}

func essentialOnly(_ *Policy, s subject) (objection, bool) {
	if !modeApplies(s, hushv1.Mode_MODE_ESSENTIAL_ONLY) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_ESSENTIAL_ONLY,
		message: "customer asked for essential contacts only" + untilPhrase(s.prefs) + "; " + s.it.GetCategory() + " is " + string(s.class)}, true
}

func topicOptOut(_ *Policy, s subject) (objection, bool) {
	t := s.it.GetTopic()
	if t == "" || !slices.Contains(s.prefs.GetOptedOutTopics(), t) {
		return objection{}, false
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_TOPIC_OPTED_OUT,
		message: "customer unsubscribed from the topic " + t}, true
}

// quietHoursRule holds an intent in quiet hours in any zone the customer
// may be in (see quietIn) until they end everywhere, or drops it (also when
// the intent's deadline comes first: a deferral past it would only expire).
// A reply inside a reply window is an answer the customer is waiting for,
// not an interruption.
func quietHoursRule(p *Policy, s subject) (objection, bool) {
	if !p.quiet.classes.has(s.class) || s.reply() {
		return objection{}, false
	}
	if s.digest() {
		return objection{}, false // released outside quiet hours by construction
	}
	until, action, why, quiet := p.quietIn(s.it, s.prefs, s.now)
	if !quiet {
		return objection{}, false
	}
	o := objection{code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, message: why}
	late := s.it.GetNotAfter() != nil && !until.Before(s.it.GetNotAfter().AsTime())
	switch {
	case why != "":
		// a suppression with no end to give (an unknown zone, or zones
		// that share no allowed time): the message says why
	case action == Digest && !late && digestible(s.class):
		return wakeFold(o, until), true
	case (action == Defer || action == Digest) && !late:
		o.message = "quiet hours in the customer's time zone; deferred to " + Stamp(until)
		o.until = until
	case action == Defer || action == Digest:
		o.message = "quiet hours in the customer's time zone until " + Stamp(until) + ", after the intent's deadline"
	default:
		o.message = "quiet hours in the customer's time zone until " + Stamp(until)
	}
	return o, true
}

func unsolicitedPurpose(_ *Policy, s subject) (objection, bool) {
	return objection{code: hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE,
		message: "an agent-initiated contact outside a reply window needs a purpose"}, s.unsolicited() && s.it.GetPurpose() == ""
}

// capped reports whether the policy's caps and the customer's own frequency
// count the subject's class (transactional contacts are never capped; and
// critical ones never reach the counted rules), with room for their checks.
func capped(p *Policy, s subject, caps []CapCheck) ([]CapCheck, bool) {
	if s.class == ClassTransactional {
		return caps, false
	}
	if caps == nil {
		caps = make([]CapCheck, 0, len(p.caps)+2)
	}
	return caps, true
}

func customerFrequency(p *Policy, s subject, caps []CapCheck) []CapCheck {
	caps, ok := capped(p, s, caps)
	f := s.prefs.GetMaxFrequency()
	if !ok || f.GetCount() <= 0 || f.GetWindow() == nil || !p.custFreq.has(s.class) {
		return caps
	}
	if w := min(f.GetWindow().AsDuration(), MaxCustomerWindow); w > 0 {
		caps = append(caps, CapCheck{Rule: RuleCustomerFrequency, Scope: ScopeCustomer, Window: w,
			Max: int(min(f.GetCount(), 1<<20)), Shadow: p.rules[RuleCustomerFrequency] == Shadow,
			Code: hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY, Classes: p.custFreqCodes})
	}
	return caps
}

func policyCaps(p *Policy, s subject, caps []CapCheck) []CapCheck {
	caps, ok := capped(p, s, caps)
	if !ok {
		return caps
	}
	for i := range p.caps {
		c := &p.caps[i]
		if !c.appliesTo(s.class) || c.Scope == ScopeTopic && s.it.GetTopic() == "" {
			continue // a cooldown needs a topic to cool down
		}
		ch := c.Check(scopeValue(s.it, c.Scope))
		if c.Reserve > 0 {
			ch.Reserve = c.reserveFor(p.PriorityOf(s.it))
		}
		caps = append(caps, ch)
	}
	return caps
}

func unsolicitedCustomer(p *Policy, s subject, caps []CapCheck) []CapCheck {
	if !s.unsolicited() {
		return caps
	}
	return append(caps, CapCheck{Rule: RuleUnsolicitedCustomer, Scope: ScopeUnsolicited, Value: "u",
		Window: p.unsolicited.customerWindow, Max: p.unsolicited.customerMax,
		Shadow: p.rules[RuleUnsolicitedCustomer] == Shadow, Code: hushv1.ReasonCode_REASON_CODE_UNSOLICITED_CAP})
}

func unsolicitedAgent(p *Policy, s subject) AgentCheck {
	if !s.unsolicited() {
		return AgentCheck{}
	}
	return AgentCheck{Rule: RuleUnsolicitedAgent, Agent: s.it.GetSender().GetAgentId(),
		Window: p.unsolicited.agentWindow, Max: p.unsolicited.agentMax, Shadow: p.rules[RuleUnsolicitedAgent] == Shadow}
}
