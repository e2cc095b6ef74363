package gatekeeper

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/deferral"
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
	if g.tracing { // the attributes cost allocations even unrecorded
		span.SetAttributes(consumeAttributes(m.subject, m.data, g.o.Durable)...)
	}
	if deferral.IsDigestRelease(g.o.Subjects, m.subject, m.headers) {
		return g.handleDigest(ctx, m) // digest.go
	}
	it, err := bus.DecodeIntent(m.data, m.headers)
	if err != nil {
		return deadLetterAs("decode", err)
	}
	// The customer id goes on the span the docs tell operators to search
	// (Jaeger's tag search: hush.customer_id=...).
	span.SetAttributes(attribute.String("hush.customer_id", it.GetCustomerId()))
	pol := g.policy.Load()
	channel, pub := g.publisher(m)
	if err := pol.Validate(it, channel); err != nil {
		return deadLetterAs("validate", err)
	}
	if err := g.errTooLarge(ctx, m, it, pol); err != nil {
		return deadLetterAs("too_large", err)
	}
	if g.o.Subjects.IsReleased(m.subject) {
		// A deferral's release time has come: forget the deferral so that
		// the intent is decided again, with today's preferences and clock.
		if _, err := g.store.Reopen(ctx, it.GetCustomerId(), it.GetId(), g.o.Now(), g.o.ReleaseSlack); err != nil {
			return result{err: err}
		}
	}
	source := m.source()
	d, replayed, recorded, err := g.decide(ctx, pol, it, source, pub, &m.unsolicited)
	describeDecision(span, d, replayed, err)
	switch {
	case err != nil:
		return result{err: err}
	case replayed && republished(d, recorded, source):
		return g.duplicate(d, start)
	case d.GetOutcome() == hushv1.Outcome_OUTCOME_INVALID:
		// Its deliveries ran out while this one was late: it is being
		// dead-lettered (see handleAdvisory); say so once more.
		return deadLetterAs("max_deliver", errors.New(exhaustedMessage(d)))
	default:
		return g.publishOutcome(ctx, m, it, d, replayed, start)
	}
}

// source names a delivery's message for the decision record: its stream and
// stream sequence, the same on every redelivery of the message and distinct
// for a producer's republish of the same intent; "" when unknown.
func (m *delivery) source() string {
	if m.stream == "" {
		return ""
	}
	return m.stream + "/" + strconv.FormatUint(m.seq, 10)
}

// republished says whether a replayed decision was recorded for another
// message than the one in hand: a producer republished the intent. That
// message publishes (or published) the outcome itself, and keeps doing so
// on its redeliveries, which happen within AckWait×MaxDeliver, inside the
// duplicate window that drops a second publish. The republish must not
// publish it again: after the duplicate window it would be a second
// dispatch. A deferral is the exception: it is not terminal, and replaying
// it (storing the same schedule again) is how a redelivered or early
// release keeps the intent alive. A record with no source (written by a
// cancellation, a claim, or before sources were recorded) replays as before.
func republished(d *hushv1.Decision, recorded, source string) bool {
	return recorded != "" && source != "" && recorded != source && d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED
}

// duplicate settles a producer's republish of an intent whose outcome
// belongs to the message decided first: it is acked, nothing is published,
// and the decision is reported as replayed.
func (g *Gatekeeper) duplicate(d *hushv1.Decision, start time.Time) result {
	return result{acked: func() {
		g.o.Logger.Info("duplicate intent", "intent_id", d.GetIntentId(), "customer_id", d.GetCustomerId(),
			"outcome", policy.ShortOutcome(d.GetOutcome()), "trace_id", d.GetTraceId())
		g.o.Observer.Decided(d, true, g.o.Now().Sub(start), 0)
	}}
}

// decide evaluates the rules and records the decision. When the store says
// the preferences (or the reply window the intent answers) changed, it
// evaluates again with the fresh ones. An unsolicited agent contact also
// reserves a unit of the agent's budget first (see agentBudget). It returns
// the decision, whether it was replayed, and then the source of the message
// that recorded it (see delivery.source). pub is who published the intent
// (see publisher). It sets *unsolicited as the deciding evaluation saw
// the intent (see policy.Unsolicited).
func (g *Gatekeeper) decide(ctx context.Context, pol *policy.Policy, it *hushv1.ContactIntent, source string, pub *policy.Publisher, unsolicited *bool) (*hushv1.Decision, bool, string, error) {
	ctx, span := g.tracer.Start(ctx, "hush.decide", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("hush.customer_id", it.GetCustomerId())))
	defer span.End()
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	prefs, version := g.cache.get(it.GetCustomerId())
	thread := policy.ReplyThread(it.GetChannel(), it.GetInReplyTo())
	seen := store.Seen{Prefs: prefs, PrefsVersion: version, ReplyUntil: g.replies.get(it.GetCustomerId(), thread)}
	budget := agentBudget{g: g, intent: it.GetId()}
	res, err := g.store.DecideFresh(ctx, store.Fresh{
		Policy:    pol,
		Publisher: pub,
		Now:       g.o.Now,
		TraceID:   traceID,
		Before: func(ctx context.Context, v *policy.Verdict, now time.Time) error {
			*unsolicited = policy.Unsolicited(policy.Input{Intent: it, Now: now, ReplyUntil: seen.ReplyUntil})
			return budget.reserve(ctx, v, now)
		},
		Abandon: budget.release,
		Stale: func(cur store.Seen) {
			g.cache.put(it.GetCustomerId(), cur.Prefs, cur.PrefsVersion)
			g.replies.put(it.GetCustomerId(), thread, cur.ReplyUntil)
			seen.ReplyUntil = cur.ReplyUntil
		},
		Source: source,
	}, it, seen)
	if err != nil {
		return nil, false, "", err
	}
	if err := budget.settle(ctx, res.Decision); err != nil {
		return nil, false, "", err
	}
	return res.Decision, res.Replayed, res.Source, nil
}
