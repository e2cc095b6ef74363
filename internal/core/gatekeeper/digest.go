package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/deferral"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// HeaderDigest marks a dispatch that carries a Digest rather than one
// ContactIntent; its value is the digest id (also the Nats-Msg-Id).
const HeaderDigest = "Hush-Digest"

// scheduleDigest makes sure the release schedule of the customer's pending
// digest on a channel is the one stored: it publishes the schedule of the
// pending digest as it is now, then reads it again, and starts over when a
// fold changed it meanwhile (an earlier release, the next digest). Of
// concurrent folds, the last to publish has read the state it published
// after publishing it, so the schedule left on the subject (one per
// digest) is always the current one. A crash before the
// schedule is stored leaves the intent unacked: its redelivery replays the
// fold and schedules again.
func (g *Gatekeeper) scheduleDigest(ctx context.Context, customer, channel, id string) error {
	for range 5 {
		p, ok, err := g.store.PendingDigest(ctx, customer, id)
		if err != nil || !ok {
			return err // released already: nothing to schedule
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = g.js.PublishMsg(pctx, deferral.DigestScheduleMsg(g.o.Subjects, customer, channel, p.ID, p.ReleaseAt))
		cancel()
		if err != nil {
			return fmt.Errorf("%w digest schedule: %w", ErrPublish, err)
		}
		now, ok, err := g.store.PendingDigest(ctx, customer, id)
		if err != nil || !ok || now.ID == p.ID && now.ReleaseAt.Equal(p.ReleaseAt) {
			return err
		}
	}
	return errors.New("digest schedule kept changing")
}

// handleDigest releases a digest whose release schedule fired: it moves
// the pending digest to its id exactly once (store.ReleaseDigest), decides
// it as one contact with the customer's current wishes, counted once, and
// publishes the Digest to dispatch, or its suppression to the suppression
// log, with Nats-Msg-Id = digest id. A schedule that fires for a digest
// released by another schedule, or no longer pending, publishes nothing:
// only the message that released it (and its redeliveries) publishes.
func (g *Gatekeeper) handleDigest(ctx context.Context, m *delivery) result {
	start := g.o.Now()
	id, customer, channel := m.headers.Get(deferral.HeaderDigestID), m.headers.Get(deferral.HeaderCustomer), m.headers.Get(deferral.HeaderChannel)
	if customer == "" || channel == "" {
		return deadLetterAs("digest", fmt.Errorf("digest release %q names no customer or channel", id))
	}
	pol := g.policy.Load()
	source := m.source()
	rel, err := g.store.ReleaseDigest(ctx, customer, channel, id, g.o.Now(), pol.DecisionRetention, source)
	switch {
	case errors.Is(err, store.ErrDigestGone):
		return result{}
	case err != nil:
		return result{err: err}
	case rel.Replayed && rel.Source != "" && source != "" && rel.Source != source:
		return result{} // released by another schedule message, which publishes it
	}
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	it := policy.DigestIntent(id, customer, channel, rel.Intents)
	d, replayed, err := g.decideDigest(ctx, pol, it, source, traceID)
	if err != nil {
		return result{err: err}
	}
	var out *nats.Msg
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
		out, err = bus.NewMsg(g.o.Subjects.Dispatch(channel), id, &hushv1.Digest{Id: id, CustomerId: customer, Channel: channel,
			Intents: rel.Intents, ReleasedAt: timestamppb.New(rel.ReleasedAt), Trigger: rel.Trigger, TraceId: d.GetTraceId()})
		if err == nil {
			out.Header.Set(HeaderDigest, id)
		}
	} else {
		out, err = suppressionMsg(g.o.Subjects.Suppressed(channel), it, d)
		if err == nil {
			out.Header.Set(bus.HeaderMsgID, id)
			out.Header.Set(HeaderDigest, id)
		}
	}
	if err != nil {
		return result{err: err}
	}
	out.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(d.GetOutcome()))
	out.Header.Set(bus.HeaderPolicyVersion, d.GetPolicyVersion())
	g.o.Propagator.Inject(ctx, bus.HeaderCarrier(out.Header))
	fut, err := g.js.PublishMsgAsync(out)
	if err != nil {
		return result{err: fmt.Errorf("publish %s: %w", out.Subject, err)}
	}
	return result{futs: []jetstream.PubAckFuture{fut}, subject: out.Subject, acked: func() {
		g.o.Logger.Info("digest released", "digest_id", id, "customer_id", customer, "channel", channel,
			"intents", len(rel.Intents), "trigger", rel.Trigger, "outcome", policy.ShortOutcome(d.GetOutcome()),
			"policy_version", d.GetPolicyVersion(), "trace_id", d.GetTraceId(), "replayed", replayed)
		g.o.Observer.Decided(d, replayed, g.o.Now().Sub(start), 0)
	}}
}

// decideDigest decides a released digest as one contact (see
// store.DecideDigest), evaluating again when the preferences changed.
func (g *Gatekeeper) decideDigest(ctx context.Context, pol *policy.Policy, it *hushv1.ContactIntent, source, traceID string) (*hushv1.Decision, bool, error) {
	customer := it.GetCustomerId()
	prefs, version := g.cache.get(customer)
	for range 3 {
		now := g.o.Now()
		v := pol.Evaluate(policy.Input{Intent: it, Prefs: prefs, Now: now, Digest: true})
		d := pol.Decision(it, &v, now, traceID)
		d.DigestId = it.GetId()
		res, err := g.store.DecideDigest(ctx, store.DecideRequest{Intent: it, PrefsVersion: version, Now: now, Verdict: &v, Decision: d,
			DecisionRetention: pol.DecisionRetention, LedgerRetention: pol.LedgerRetention, Source: source})
		if err != nil {
			return nil, false, err
		}
		if !res.Stale {
			return res.Decision, res.Replayed, nil
		}
		prefs, version = res.Prefs, res.PrefsVersion
		g.cache.put(customer, prefs, version)
	}
	return nil, false, store.ErrKeptChanging
}
