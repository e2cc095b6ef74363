package policy

import (
	"fmt"
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
	RuleCustomerFrequency     = "customer_frequency"
	RuleQuietHours            = "quiet_hours"
	RuleUnsolicitedPurpose    = "unsolicited.purpose"
	RuleUnsolicitedCustomer   = "unsolicited.customer_cap"
	RuleUnsolicitedAgent      = "unsolicited.agent_cap"
)

// RuleIDs lists the rules a policy file may set a mode for, in the order
// they are applied.
var RuleIDs = []string{
	RuleExpired, RuleConsentRevoked, RuleOptOut, RuleCategoryOptOut, RuleDestinationSuppressed,
	RuleCareHold, RuleDoNothing, RuleEssentialOnly, RuleTopicOptOut, RuleCustomerFrequency,
	RuleQuietHours, RuleUnsolicitedPurpose, RuleUnsolicitedCustomer, RuleUnsolicitedAgent,
}

// Evaluate applies the rules in the order of the design: expired, critical
// bypass, hard opt-outs, care hold and the customer's mode, topic
// preferences, quiet hours, the over-servicing guard's purpose, then the
// counted rules (the customer's own frequency, the policy's caps, the
// unsolicited caps) as checks for the store. The first enforcing rule that
// says no decides; shadow rules only add to Verdict.Shadow.
func (p *Policy) Evaluate(in Input) Verdict {
	it := in.Intent
	class := p.categories[it.GetCategory()]
	v := Verdict{Outcome: hushv1.Outcome_OUTCOME_APPROVED, Class: class}

	if na := it.GetNotAfter(); na != nil && !in.Now.Before(na.AsTime()) {
		if p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_EXPIRED, RuleExpired,
			"deadline " + Stamp(na.AsTime()) + " passed before a decision"}) {
			return v
		}
	}
	if class == ClassCritical {
		return v
	}

	prefs := in.Prefs
	reply := it.GetInReplyTo() != "" && in.Now.Before(in.ReplyUntil)
	agent := it.GetInitiator() == "agent"

	if prefs != nil {
		// Hard opt-outs: every class but critical respects them.
		if prefs.GetConsentRevoked() && p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED, RuleConsentRevoked,
			"customer revoked all consent to be contacted"}) {
			return v
		}
		if slices.Contains(prefs.GetOptedOutChannels(), it.GetChannel()) && p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_OPTED_OUT, RuleOptOut,
			"customer unsubscribed from " + it.GetChannel()}) {
			return v
		}
		if slices.Contains(prefs.GetOptedOutCategories(), it.GetCategory()) && p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_CATEGORY_OPTED_OUT, RuleCategoryOptOut,
			"customer unsubscribed from " + it.GetCategory() + " contacts"}) {
			return v
		}
		if dest := it.GetDestination(); dest != "" && len(prefs.GetSuppressedDestinations()) > 0 &&
			slices.Contains(prefs.GetSuppressedDestinations(), HashDestination(dest)) && p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_DESTINATION_SUPPRESSED, RuleDestinationSuppressed,
			"the destination is on the customer's suppression list"}) {
			return v
		}

		// Care hold and modes.
		if h := prefs.GetCareHold(); h != nil && (h.GetUntil() == nil || in.Now.Before(h.GetUntil().AsTime())) && !(agent && reply) {
			msg := "contacts paused by staff (care hold)"
			if h.GetUntil() != nil {
				msg += " until " + Stamp(h.GetUntil().AsTime())
			}
			if p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_CARE_HOLD, RuleCareHold, msg}) {
				return v
			}
		}
		if class != ClassTransactional && !reply {
			switch effectiveMode(prefs, in.Now) {
			case hushv1.Mode_MODE_DO_NOTHING:
				if p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_DO_NOTHING, RuleDoNothing,
					"customer asked to be left alone" + untilPhrase(prefs)}) {
					return v
				}
			case hushv1.Mode_MODE_ESSENTIAL_ONLY:
				if p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_ESSENTIAL_ONLY, RuleEssentialOnly,
					"customer asked for essential contacts only" + untilPhrase(prefs) + "; " + it.GetCategory() + " is " + string(class)}) {
					return v
				}
			}
		}

		// Topic preferences.
		if t := it.GetTopic(); t != "" && slices.Contains(prefs.GetOptedOutTopics(), t) && p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_TOPIC_OPTED_OUT, RuleTopicOptOut,
			"customer unsubscribed from the topic " + t}) {
			return v
		}
	}

	// Quiet hours in the customer's zone. A reply inside a reply window is
	// an answer the customer is waiting for, not an interruption.
	if p.quiet.classes.has(class) && !reply {
		rule := p.quiet.ruleFor(prefs.GetRegion())
		own, hasOwn := customerWindow(prefs.GetQuietHours())
		hasOwn = hasOwn && p.quiet.customer
		if until, quiet := quietUntil(in.Now, p.zone(prefs.GetTimeZone()), &rule, own, hasOwn); quiet {
			if p.quietHours(&v, it, rule.action, until) {
				return v
			}
		}
	}

	unsolicited := agent && !reply
	if unsolicited && it.GetPurpose() == "" && p.decide(&v, Reason{hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE, RuleUnsolicitedPurpose,
		"an agent-initiated contact outside a reply window needs a purpose"}) {
		return v
	}

	if class != ClassTransactional {
		n := len(p.caps) + 2
		v.Caps = make([]CapCheck, 0, n)
		if f := prefs.GetMaxFrequency(); f.GetCount() > 0 && f.GetWindow() != nil && p.custFreq.has(class) {
			w := min(f.GetWindow().AsDuration(), MaxCustomerWindow)
			if w > 0 {
				v.Caps = append(v.Caps, CapCheck{Rule: RuleCustomerFrequency, Scope: ScopeCustomer, Window: w,
					Max: int(min(f.GetCount(), 1<<20)), Shadow: p.rules[RuleCustomerFrequency] == Shadow,
					Code: hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY, Classes: p.custFreqCodes})
			}
		}
		for i := range p.caps {
			c := &p.caps[i]
			if !c.appliesTo(class) || c.Scope == ScopeTopic && it.GetTopic() == "" {
				continue // a cooldown needs a topic to cool down
			}
			v.Caps = append(v.Caps, CapCheck{
				Rule:    c.rule,
				Scope:   c.Scope,
				Value:   scopeValue(it, c.Scope),
				Window:  c.Window,
				Max:     c.Max,
				Shadow:  c.Mode == Shadow,
				Code:    hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP,
				Classes: c.codes,
			})
		}
	}
	if unsolicited {
		v.Unsolicited = true
		v.Caps = append(v.Caps, CapCheck{Rule: RuleUnsolicitedCustomer, Scope: ScopeUnsolicited, Value: "u",
			Window: p.unsolicited.customerWindow, Max: p.unsolicited.customerMax,
			Shadow: p.rules[RuleUnsolicitedCustomer] == Shadow, Code: hushv1.ReasonCode_REASON_CODE_UNSOLICITED_CAP})
		v.Agent = AgentCheck{Rule: RuleUnsolicitedAgent, Agent: it.GetSender().GetAgentId(),
			Window: p.unsolicited.agentWindow, Max: p.unsolicited.agentMax, Shadow: p.rules[RuleUnsolicitedAgent] == Shadow}
	}
	return v
}

// decide applies a rule that says no: in enforce mode it becomes the verdict
// (and decide reports true); in shadow mode it is only recorded.
func (p *Policy) decide(v *Verdict, r Reason) bool {
	if p.rules[r.Rule] == Shadow {
		v.Shadow = append(v.Shadow, r)
		return false
	}
	v.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
	v.Reason = r
	v.Caps = nil
	return true
}

// quietHours applies quiet hours that last until until: a deferral to
// their end, or a suppression (also when the intent's deadline comes
// first: a deferral past it would only expire).
func (p *Policy) quietHours(v *Verdict, it *hushv1.ContactIntent, action Action, until time.Time) bool {
	r := Reason{hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, RuleQuietHours, ""}
	late := it.GetNotAfter() != nil && !until.Before(it.GetNotAfter().AsTime())
	switch {
	case action == Defer && !late:
		r.Message = "quiet hours in the customer's time zone; deferred to " + Stamp(until)
	case action == Defer:
		r.Message = "quiet hours in the customer's time zone until " + Stamp(until) + ", after the intent's deadline"
	default:
		r.Message = "quiet hours in the customer's time zone until " + Stamp(until)
	}
	if p.rules[RuleQuietHours] == Shadow {
		v.Shadow = append(v.Shadow, r)
		return false
	}
	v.Reason = r
	v.Caps = nil
	v.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
	if action == Defer && !late {
		v.Outcome = hushv1.Outcome_OUTCOME_DEFERRED
		v.ReleaseAt = until.UTC()
	}
	return true
}

// effectiveMode is the customer's mode at now: a mode with an end date
// (a snooze) reverts to normal once it has passed.
func effectiveMode(p *hushv1.Preferences, now time.Time) hushv1.Mode {
	if p == nil {
		return hushv1.Mode_MODE_NORMAL
	}
	if u := p.GetModeUntil(); u != nil && !now.Before(u.AsTime()) {
		return hushv1.Mode_MODE_NORMAL
	}
	return p.GetMode()
}

func untilPhrase(p *hushv1.Preferences) string {
	if u := p.GetModeUntil(); u != nil {
		return " until " + Stamp(u.AsTime())
	}
	return ""
}

func scopeValue(it *hushv1.ContactIntent, s Scope) string {
	switch s {
	case ScopeChannel:
		return it.GetChannel()
	case ScopeCategory:
		return it.GetCategory()
	case ScopeTopic:
		return it.GetTopic()
	case ScopeSender:
		return it.GetSender().GetService()
	case ScopeUnsolicited:
		return "u"
	}
	return ""
}

// Stamp prints a time the way explanations do: UTC, to the minute when the
// seconds are zero ("2026-11-29T10:02Z"), else to the second.
func Stamp(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() != 0 {
		t = t.Truncate(time.Second).Add(time.Second) // never earlier than the truth
	}
	if t.Second() == 0 {
		return t.Format("2006-01-02T15:04Z")
	}
	return t.Format("2006-01-02T15:04:05Z")
}

// CapMessage is the sentence for a cap that said no: how many contacts the
// window holds and when the next one is allowed, e.g. "3 of 3 marketing
// contacts in the last 7 days; next allowed 2026-11-29T10:02Z".
func CapMessage(c CapCheck, count int, next time.Time) string {
	var what string
	switch c.Scope {
	case ScopeCustomer:
		what = "contacts"
	case ScopeChannel:
		what = c.Value + " contacts"
	case ScopeCategory:
		what = c.Value + " contacts"
	case ScopeTopic:
		what = fmt.Sprintf("contacts on the topic %q", c.Value)
	case ScopeSender:
		what = "contacts from " + c.Value
	case ScopeUnsolicited:
		what = "unsolicited agent contacts"
	}
	prefix := ""
	if c.Code == hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY {
		prefix = "the customer's own limit: "
	}
	return fmt.Sprintf("%s%d of %d %s in the last %s; next allowed %s",
		prefix, count, c.Max, what, HumanWindow(c.Window), Stamp(next))
}

// AgentCapMessage is the sentence for a per-agent cap that said no.
func AgentCapMessage(a AgentCheck, count int, next time.Time) string {
	return fmt.Sprintf("%d of %d unsolicited contacts by agent %s in the last %s; next allowed %s",
		count, a.Max, a.Agent, HumanWindow(a.Window), Stamp(next))
}

// HumanWindow prints a window in words: "7 days", "24 hours", "1 day".
func HumanWindow(d time.Duration) string {
	unit := func(n time.Duration, s string) string {
		if n == 1 {
			return "1 " + s
		}
		return fmt.Sprintf("%d %ss", n, s)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(d/(24*time.Hour), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(d/time.Hour, "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(d/time.Minute, "minute")
	}
	return d.String()
}

// FormatWindow prints a window the way people write it: 24h, 7d, 90m.
func FormatWindow(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
