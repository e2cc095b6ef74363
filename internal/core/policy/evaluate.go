package policy

import (
	"fmt"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

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
	if c.Code == hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD {
		return "the one confirmation a STOP keyword allows was sent already"
	}
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
