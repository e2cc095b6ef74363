package gatekeeper

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// handle takes one intent, new or released, to its outcome's publishes, or
// to the error that says how settle hands it back or dead-letters it.
func (g *Gatekeeper) handle(ctx context.Context, m *delivery) result {
	start := g.o.Now()
	span := trace.SpanFromContext(ctx)

	g.o.Observer.InFlight(1)
	defer g.o.Observer.InFlight(-1)
	span.SetAttributes(consumeAttributes(m.subject, m.data, g.o.Durable)...)
	it, err := bus.DecodeIntent(m.data, m.headers)
	if err != nil {
		return deadLetterAs("decode", err)
	}
	// The customer id goes on the span the docs tell operators to search
	// (Jaeger's tag search: hush.customer_id=...).
	span.SetAttributes(attribute.String("hush.customer_id", it.GetCustomerId()))
	pol := g.policy.Load()
	if err := pol.Validate(it, g.o.Subjects.Channel(m.subject)); err != nil {
		return deadLetterAs("validate", err)
	}
	if g.o.Subjects.IsReleased(m.subject) {
		// A deferral's release time has come: forget the deferral so that
		// the intent is decided again, with today's preferences and clock.
		if _, err := g.store.Reopen(ctx, it.GetCustomerId(), it.GetId(), g.o.Now(), g.o.ReleaseSlack); err != nil {
			return result{err: err}
		}
	}
	d, replayed, err := g.decide(ctx, pol, it)
	describeDecision(span, d, replayed, err)
	switch {
	case err != nil:
		return result{err: err}
	case d.GetOutcome() == hushv1.Outcome_OUTCOME_INVALID:
		// Its deliveries ran out while this one was late: it is being
		// dead-lettered (see handleAdvisory); say so once more.
		return deadLetterAs("max_deliver", errors.New(exhaustedMessage(d)))
	default:
		return g.publishOutcome(ctx, m, it, d, replayed, start)
	}
}

// decide evaluates the rules and records the decision. When the store says
// the preferences (or the reply window the intent answers) changed, it
// evaluates again with the fresh ones. An unsolicited agent contact also
// reserves a unit of the agent's budget first (see agentBudget).
func (g *Gatekeeper) decide(ctx context.Context, pol *policy.Policy, it *hushv1.ContactIntent) (*hushv1.Decision, bool, error) {
	ctx, span := g.tracer.Start(ctx, "hush.decide", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("hush.customer_id", it.GetCustomerId())))
	defer span.End()
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	prefs, version := g.cache.get(it.GetCustomerId())
	seen := store.Seen{Prefs: prefs, PrefsVersion: version, ReplyUntil: g.replies.get(it.GetCustomerId(), it.GetInReplyTo())}
	budget := agentBudget{g: g, intent: it.GetId()}
	res, err := g.store.DecideFresh(ctx, store.Fresh{
		Policy:  pol,
		Now:     g.o.Now,
		TraceID: traceID,
		Before:  budget.reserve,
		Abandon: budget.release,
		Stale: func(cur store.Seen) {
			g.cache.put(it.GetCustomerId(), cur.Prefs, cur.PrefsVersion)
			g.replies.put(it.GetCustomerId(), it.GetInReplyTo(), cur.ReplyUntil)
		},
	}, it, seen)
	if err != nil {
		return nil, false, err
	}
	if err := budget.settle(ctx, res.Decision); err != nil {
		return nil, false, err
	}
	return res.Decision, res.Replayed, nil
}
