package gatekeeper

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// InboundConsumerConfig is the durable consumer of customers' own contacts
// (hush.inbound.<channel>) that every replica shares.
func (g *Gatekeeper) InboundConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       g.o.Durable + "-inbound",
		Description:   "Hush gatekeeper: opens reply windows for customers' own contacts",
		FilterSubject: g.o.Subjects.All("inbound"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       g.o.AckWait,
		MaxDeliver:    g.o.MaxDeliver,
		MaxAckPending: g.o.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// handleInbound records the reply window a customer's contact opens and
// acknowledges it once the window is stored. Malformed contacts are
// dead-lettered like intents; a Redis failure hands the contact back.
func (g *Gatekeeper) handleInbound(ctx context.Context, m *delivery) result {
	in := new(hushv1.InboundContact)
	if err := bus.Decode(m.data, m.headers, in); err != nil {
		return deadLetterAs("decode", err)
	}
	m.data = withoutBody(in, m) // a dead letter never keeps the body
	if err := policy.ValidateInbound(in, g.o.Subjects.Channel(m.subject)); err != nil {
		return deadLetterAs("validate", err)
	}
	if err := g.recordStop(ctx, in, m); err != nil {
		return result{err: err}
	}
	now := g.o.Now()
	// The window runs from when the customer reached out; a clock in the
	// future (a producer's skew) is not trusted past now.
	from := now
	if at := in.GetReceivedAt(); at != nil && at.AsTime().Before(now) {
		from = at.AsTime()
	}
	until := from.Add(g.policy.Load().ReplyWindow)
	if !until.After(now) {
		return result{} // the window closed before it reached us
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ends, err := g.store.OpenReplyWindow(sctx, in.GetCustomerId(), in.GetChannel(), in.GetThreadId(), until, now)
	if err != nil {
		return result{err: err}
	}
	g.replies.put(in.GetCustomerId(), policy.ReplyThread(in.GetChannel(), in.GetThreadId()), ends)
	return result{acked: func() {
		g.o.Logger.Debug("reply window opened", "customer_id", in.GetCustomerId(), "channel", in.GetChannel(),
			"thread_id", in.GetThreadId(), "until", until.UTC())
	}}
}
