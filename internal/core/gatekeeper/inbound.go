package gatekeeper

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

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

// RunInbound consumes customers' inbound contacts until ctx is done, then
// drains: every replica runs it next to Run, on the same durable consumer.
func (g *Gatekeeper) RunInbound(ctx context.Context) error {
	stop, err := g.startInbound(ctx)
	if err != nil {
		return err
	}
	<-ctx.Done()
	stop()
	return nil
}

// startInbound consumes inbound contacts until the returned stop is called;
// stop drains the consumer and waits for the contacts in hand.
func (g *Gatekeeper) startInbound(ctx context.Context) (stop func(), err error) {
	stream := g.o.Subjects.Stream(bus.StreamInbound)
	cons, err := g.js.CreateOrUpdateConsumer(ctx, stream, g.InboundConsumerConfig())
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", g.o.Durable+"-inbound", stream, err)
	}
	work := context.WithoutCancel(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) { g.handleInbound(work, m) },
		jetstream.PullMaxMessages(64),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			g.o.Logger.Warn("consume inbound", "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", stream, err)
	}
	return func() {
		cc.Drain()
		<-cc.Closed()
	}, nil
}

// handleInbound records the reply window a customer's contact opens and
// acknowledges it once the window is stored. Malformed contacts are
// dead-lettered like intents; a Redis failure hands the contact back.
func (g *Gatekeeper) handleInbound(ctx context.Context, m jetstream.Msg) {
	ctx = g.o.Propagator.Extract(ctx, bus.HeaderCarrier(m.Headers()))
	ctx, span := g.tracer.Start(ctx, "hush.inbound process", trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	defer func() {
		if r := recover(); r != nil {
			g.deadLetter(ctx, m, "panic", fmt.Errorf("panic: %v", r))
		}
	}()

	in := new(hushv1.InboundContact)
	if err := bus.Decode(m.Data(), m.Headers(), in); err != nil {
		g.deadLetter(ctx, m, "decode", err)
		return
	}
	if err := policy.ValidateInbound(in, g.o.Subjects.Channel(m.Subject())); err != nil {
		g.deadLetter(ctx, m, "validate", err)
		return
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
		if err := m.Ack(); err != nil {
			g.o.Logger.Warn("ack inbound", "err", err)
		}
		return // the window closed before it reached us
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ends, err := g.store.OpenReplyWindow(sctx, in.GetCustomerId(), in.GetThreadId(), until, now)
	if err != nil {
		g.retry(m, err)
		return
	}
	g.replies.put(in.GetCustomerId(), in.GetThreadId(), ends)
	if err := m.Ack(); err != nil {
		g.o.Logger.Warn("ack inbound", "err", err)
	}
	g.o.Logger.Debug("reply window opened", "customer_id", in.GetCustomerId(), "channel", in.GetChannel(),
		"thread_id", in.GetThreadId(), "until", until.UTC())
}
