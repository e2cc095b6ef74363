package gatekeeper

import (
	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// feedbackMsg is a decision as its producer reads it: the Decision on
// hush.outcome.<producer>.<channel> (bus.Subjects.Outcome), the producer
// being the one whose credential published the intent (see publisher). It
// takes the Nats-Msg-Id of the outcome it goes with (out), so a replayed
// decision is fed back once, and the intent is acked only once it is
// stored, like the outcome itself. It carries no payload and no
// destination: the Decision has neither.
func (g *Gatekeeper) feedbackMsg(m *delivery, d *hushv1.Decision, out *nats.Msg) (*nats.Msg, error) {
	_, pub := g.publisher(m)
	msg, err := bus.NewMsg(g.o.Subjects.Outcome(pub.Producer, d.GetChannel()), out.Header.Get(bus.HeaderMsgID), d)
	if err != nil {
		return nil, err
	}
	msg.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(d.GetOutcome()))
	msg.Header.Set(bus.HeaderPolicyVersion, d.GetPolicyVersion())
	return msg, nil
}
