package simulate

import (
	"sort"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// History is what a customer wished and which threads they opened, over
// time: the consent history's changes and the inbound contacts, so that
// each intent is decided with the preferences and reply windows of its own
// time rather than today's.
type History struct {
	prefs   map[string][]prefsAt
	inbound map[string][]inboundAt // by customer
}

type prefsAt struct {
	at      time.Time
	version uint64
	old     *hushv1.Preferences
	new     *hushv1.Preferences
}

type inboundAt struct {
	stored time.Time // when the inbound stream stored it: when the window opened
	from   time.Time // when the window runs from (received_at, never after stored)
	thread string    // policy.ReplyThread of the contact
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{prefs: map[string][]prefsAt{}, inbound: map[string][]inboundAt{}}
}

// AddChange records a consent-history entry.
func (h *History) AddChange(ch *hushv1.PreferenceChange) {
	c := ch.GetCustomerId()
	h.prefs[c] = append(h.prefs[c], prefsAt{at: ch.GetChangedAt().AsTime(), version: ch.GetVersion(), old: ch.GetOld(), new: ch.GetNew()})
}

// AddInbound records an inbound contact stored at a time.
func (h *History) AddInbound(in *hushv1.InboundContact, stored time.Time) {
	from := stored
	if at := in.GetReceivedAt(); at != nil && at.AsTime().Before(stored) {
		from = at.AsTime()
	}
	c := in.GetCustomerId()
	h.inbound[c] = append(h.inbound[c], inboundAt{stored: stored, from: from, thread: policy.ReplyThread(in.GetChannel(), in.GetThreadId())})
}

// seal orders what was added; call it once, before the lookups.
func (h *History) seal() {
	for _, l := range h.prefs {
		sort.SliceStable(l, func(i, j int) bool {
			if l[i].version != l[j].version {
				return l[i].version < l[j].version
			}
			return l[i].at.Before(l[j].at)
		})
	}
	for _, l := range h.inbound {
		sort.SliceStable(l, func(i, j int) bool { return l[i].stored.Before(l[j].stored) })
	}
}

// Prefs returns a customer's preferences as they were at a time: the new
// preferences of the latest change made by then, or, before the first
// change, what that change replaced (nil: none recorded).
func (h *History) Prefs(customer string, at time.Time) *hushv1.Preferences {
	l := h.prefs[customer]
	if len(l) == 0 {
		return nil
	}
	i := len(l) - 1
	for i >= 0 && l[i].at.After(at) {
		i--
	}
	if i < 0 {
		return l[0].old
	}
	return l[i].new
}

// ReplyUntil is when the reply window an intent's in_reply_to names closes,
// as it stood at a time, with the policy's reply window: the latest end of
// the windows the thread's inbound contacts opened by then (zero: none).
func (h *History) ReplyUntil(it *hushv1.ContactIntent, at time.Time, window time.Duration) time.Time {
	thread := policy.ReplyThread(it.GetChannel(), it.GetInReplyTo())
	if thread == "" {
		return time.Time{}
	}
	var until time.Time
	for _, e := range h.inbound[it.GetCustomerId()] {
		if e.stored.After(at) {
			break
		}
		if e.thread != thread {
			continue
		}
		// A window that closed before the contact reached the gatekeeper
		// was never opened.
		if end := e.from.Add(window); end.After(e.stored) && end.After(until) {
			until = end
		}
	}
	return until
}
