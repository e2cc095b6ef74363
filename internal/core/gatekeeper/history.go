package gatekeeper

import (
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// The contact history is the outcome feed (feedbackMsg): every decision's
// record on the customer's token of bus.Subjects.Outcome, read back by
// bus.Subjects.ReadHistory, which passes over deferrals (not terminal:
// their release is recorded when it is decided).

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
