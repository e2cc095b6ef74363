package gatekeeper

import (
	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// historyMsg is the contact history's record of a terminal outcome, on the
// customer's own subject (bus.Subjects.History): the decision and the
// intent without payload and destination, as the suppression log keeps
// them, whatever the outcome. It is published with the outcome and the
// intent is acked only once both are stored, so the history misses no
// decided intent. A deferral is not terminal and has none: its release is
// recorded when it is decided.
//
// Why a stream and not Redis: the preference page needs one customer's
// last 30 days, and a subject-filtered consumer on the customer's subject
// reads just those; Redis holds only what decisions need, and its memory
// per customer stays small.
func (g *Gatekeeper) historyMsg(m *delivery, it *hushv1.ContactIntent, d *hushv1.Decision) (*nats.Msg, error) {
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
		return nil, nil
	}
	h, err := suppressionMsg(g.o.Subjects.History(it.GetCustomerId()), it, d)
	if err != nil {
		return nil, err
	}
	h.Header.Set(bus.HeaderMsgID, it.GetId())
	h.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(d.GetOutcome()))
	if m.unsolicited {
		h.Header.Set(bus.HeaderUnsolicited, "true")
	}
	return h, nil
}

// PressureObserver is an Observer that also counts who pushed: each
// terminal outcome by the sending service, and whether it was unsolicited.
// Metrics implements it.
type PressureObserver interface {
	Pressed(service string, d *hushv1.Decision, unsolicited bool)
}

func (g *Gatekeeper) pressed(service string, d *hushv1.Decision, unsolicited bool) {
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
		return
	}
	if p, ok := g.o.Observer.(PressureObserver); ok {
		p.Pressed(service, d, unsolicited)
	}
}
