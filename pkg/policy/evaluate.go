package policy

import (
	"fmt"
	"slices"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Rule ids of the rules that are not caps. Caps are named "cap.<id>".
const (
	RuleExpired   = "expired"
	RuleOptOut    = "opt_out.channel"
	RuleDoNothing = "mode.do_nothing"
)

// Evaluate applies the rules in the order of the design: expired, critical
// bypass, hard opt-outs, the customer's mode, then caps (as CapChecks for the
// store). The first enforcing rule that says no decides; shadow rules only
// add to Verdict.Shadow.
func (p *Policy) Evaluate(in Input) Verdict {
	it := in.Intent
	if na := it.GetNotAfter(); na != nil && !in.Now.Before(na.AsTime()) {
		return suppress(hushv1.ReasonCode_REASON_CODE_EXPIRED, RuleExpired,
			fmt.Sprintf("deadline %s passed before a decision", na.AsTime().UTC().Format(time.RFC3339)))
	}

	class := p.categories[it.GetCategory()]
	v := Verdict{Outcome: hushv1.Outcome_OUTCOME_APPROVED}
	if class == ClassCritical {
		return v
	}

	prefs := in.Prefs
	if prefs != nil && slices.Contains(prefs.GetOptedOutChannels(), it.GetChannel()) {
		r := Reason{hushv1.ReasonCode_REASON_CODE_OPTED_OUT, RuleOptOut,
			fmt.Sprintf("customer unsubscribed from %s", it.GetChannel())}
		if p.decide(&v, r) {
			return v
		}
	}

	if class != ClassTransactional && effectiveMode(prefs, in.Now) == hushv1.Mode_MODE_DO_NOTHING {
		r := Reason{hushv1.ReasonCode_REASON_CODE_DO_NOTHING, RuleDoNothing,
			"customer asked to be left alone" + untilPhrase(prefs)}
		if p.decide(&v, r) {
			return v
		}
	}

	for i := range p.caps {
		c := &p.caps[i]
		if !c.appliesTo(class) {
			continue
		}
		if v.Caps == nil {
			v.Caps = make([]CapCheck, 0, len(p.caps)-i)
		}
		v.Caps = append(v.Caps, CapCheck{
			Rule:   c.rule,
			Scope:  c.Scope,
			Value:  scopeValue(it, c.Scope),
			Window: c.Window,
			Max:    c.Max,
			Shadow: c.Mode == Shadow,
			Code:   hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP,
		})
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

func suppress(code hushv1.ReasonCode, rule, msg string) Verdict {
	return Verdict{Outcome: hushv1.Outcome_OUTCOME_SUPPRESSED, Reason: Reason{code, rule, msg}}
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
		return " until " + u.AsTime().UTC().Format(time.RFC3339)
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
	}
	return ""
}

// CapMessage is the sentence for a cap that said no: how many contacts the
// window holds and when the next one is allowed.
func CapMessage(c CapCheck, count int, next time.Time) string {
	what := "contacts"
	if c.Scope != ScopeCustomer {
		what = fmt.Sprintf("%s %q contacts", c.Scope, c.Value)
	}
	return fmt.Sprintf("%d of %d %s in the last %s; next allowed %s",
		count, c.Max, what, FormatWindow(c.Window), next.UTC().Format(time.RFC3339))
}

// FormatWindow prints a window the way people say it: 24h, 7d, 90m.
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
