package gatekeeper

import (
	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// feedbackMsg is a decision as its producer and its customer's history
// read it: on hush.outcome.<producer>.<channel>.<customer>
// (bus.Subjects.Outcome), the producer being the one whose credential
// published the intent (see publisher), a SuppressionRecord (the Decision
// and the intent without payload and destination), whatever the outcome.
// It takes the Nats-Msg-Id of the outcome it goes with (out), so a
// replayed decision is fed back once, and the intent is acked only once it
// is stored, like the outcome itself: the history misses no decided
// intent.
//
// Why a stream and not Redis for the history: the preference page needs
// one customer's last 30 days, and a consumer filtered on the customer's
// token reads just those; Redis holds only what decisions need, and its
// memory per customer stays small.
func (g *Gatekeeper) feedbackMsg(m *delivery, it *hushv1.ContactIntent, d *hushv1.Decision, out *nats.Msg) (*nats.Msg, error) {
	_, pub := g.publisher(m)
	subject := g.o.Subjects.Outcome(pub.Producer, d.GetChannel(), it.GetCustomerId())
	var msg *nats.Msg
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
		// A dispatch carries the intent as sent: the record is encoded here.
		var err error
		if msg, err = suppressionMsg(subject, it, d); err != nil {
			return nil, err
		}
	} else {
		// The suppression log's record is this record: its bytes are shared.
		msg = nats.NewMsg(subject)
		msg.Data = out.Data
		msg.Header.Set(bus.HeaderContentType, bus.ContentTypeProtobuf)
	}
	msg.Header.Set(bus.HeaderMsgID, out.Header.Get(bus.HeaderMsgID))
	msg.Header.Set(bus.HeaderMessageType, bus.MessageTypeRecord)
	msg.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(d.GetOutcome()))
	msg.Header.Set(bus.HeaderPolicyVersion, d.GetPolicyVersion())
	if m.unsolicited {
		msg.Header.Set(bus.HeaderUnsolicited, "true")
	}
	return msg, nil
}
