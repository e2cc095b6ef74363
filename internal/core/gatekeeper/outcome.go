package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/deferral"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ErrPublish marks a publish of an outcome that JetStream did not
// acknowledge (a NATS failure, not a Redis one); the intent is handed back.
var ErrPublish = errors.New("publish")

// publishOutcome publishes an approved intent to dispatch, or a suppression
// record to the suppression log, without waiting: the intent is acked when
// JetStream acknowledges the publish, and handed back if it does not. Both
// carry Nats-Msg-Id = intent id, so a replayed decision never yields a second
// message inside the duplicate window.
func (g *Gatekeeper) publishOutcome(ctx context.Context, m *delivery, it *hushv1.ContactIntent, d *hushv1.Decision, replayed bool, start time.Time) result {
	var out, schedule *nats.Msg
	switch d.GetOutcome() {
	case hushv1.Outcome_OUTCOME_DEFERRED:
		// Stored as a JetStream schedule that releases the intent at
		// release_at, and logged; the intent is acked once both are
		// stored, so deferrals never wait in the consumer's ack window.
		if d.GetReleaseAt() == nil {
			return result{err: errors.New("deferred without a release time")}
		}
		at := d.GetReleaseAt().AsTime()
		subject := m.subject
		if h := m.headers.Get(deferral.HeaderIntentSubject); h != "" && g.o.Subjects.IsReleased(subject) {
			subject = h // deferred again after a release
		}
		schedule = deferral.ScheduleMsg(g.o.Subjects, it, subject, m.data, m.headers, at)
		var err error
		if out, err = suppressionMsg(g.o.Subjects.Suppressed(it.GetChannel()), it, d); err != nil {
			return result{err: err}
		}
	case hushv1.Outcome_OUTCOME_APPROVED:
		out = g.dispatchMsg(m, it)
	case hushv1.Outcome_OUTCOME_FOLDED:
		// Logged like a suppression (folded into digest_id), once its
		// digest's release is scheduled (digest.go).
		if err := g.scheduleDigest(ctx, it.GetCustomerId(), it.GetChannel(), d.GetDigestId()); err != nil {
			return result{err: err}
		}
		var err error
		if out, err = suppressionMsg(g.o.Subjects.Suppressed(it.GetChannel()), it, d); err != nil {
			return result{err: err}
		}
	default:
		var err error
		if out, err = suppressionMsg(g.o.Subjects.Suppressed(it.GetChannel()), it, d); err != nil {
			return result{err: err}
		}
	}
	out.Header.Set(bus.HeaderMsgID, it.GetId())
	if schedule != nil {
		// The deferral's log entry must not take the intent id: the
		// terminal outcome after the release carries it.
		out.Header.Set(bus.HeaderMsgID, schedule.Header.Get(bus.HeaderMsgID))
	}
	out.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(d.GetOutcome()))
	out.Header.Set(bus.HeaderPolicyVersion, d.GetPolicyVersion())
	if m.unsolicited {
		out.Header.Set(bus.HeaderUnsolicited, "true")
	}
	var pctx context.Context
	var span trace.Span
	if g.tracing {
		pctx, span = g.tracer.Start(ctx, out.Subject+" publish", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", out.Subject),
				attribute.String("messaging.message.id", it.GetId()),
				attribute.String("hush.customer_id", it.GetCustomerId()),
			),
			trace.WithAttributes(decisionAttributes(d, replayed)...))
	} else {
		// Tracing off: a no-op span, without the attributes' allocations.
		pctx, span = g.tracer.Start(ctx, "hush publish", trace.WithSpanKind(trace.SpanKindProducer))
	}
	g.o.Propagator.Inject(pctx, bus.HeaderCarrier(out.Header))

	toSend := []*nats.Msg{out}
	if schedule != nil {
		// The log entry first, and stored before the schedule exists: a
		// schedule may fire at once (release_at already past), and its
		// release must never be decided before the deferral is logged.
		pctx, cancel := context.WithTimeout(pctx, 10*time.Second)
		_, err := g.js.PublishMsg(pctx, out)
		cancel()
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish")
			span.End()
			return result{err: fmt.Errorf("publish %s: %w", out.Subject, err)}
		}
		toSend = []*nats.Msg{schedule}
	}
	fb, err := g.feedbackMsg(m, it, d, out)
	if err != nil {
		span.End()
		return result{err: err}
	}
	toSend = append(toSend, fb)
	var futs []jetstream.PubAckFuture
	for _, msg := range toSend {
		fut, err := g.js.PublishMsgAsync(msg)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish")
			span.End()
			return result{err: fmt.Errorf("publish %s: %w", msg.Subject, err)}
		}
		futs = append(futs, fut)
	}
	service, unsolicited := it.GetSender().GetService(), m.unsolicited
	return result{futs: futs, subject: out.Subject, span: span, acked: func() {
		g.logDecision(d, replayed)
		var sincePublish time.Duration
		if m.msg != nil {
			if md, err := m.msg.Metadata(); err == nil {
				sincePublish = time.Since(md.Timestamp)
			}
		}
		g.o.Observer.Decided(d, replayed, g.o.Now().Sub(start), sincePublish)
		g.pressed(service, d, unsolicited)
	}}
}

// dispatchMsg is the dispatch of an approved intent, before the headers
// every outcome carries: the intent exactly as the producer sent it.
func (g *Gatekeeper) dispatchMsg(m *delivery, it *hushv1.ContactIntent) *nats.Msg {
	out := nats.NewMsg(g.o.Subjects.Dispatch(it.GetChannel()))
	out.Data = m.data
	if ct := bus.Header(m.headers, bus.HeaderContentType); ct != "" {
		out.Header.Set(bus.HeaderContentType, ct)
	}
	return out
}

// maxPayload is the largest message the NATS server takes (headers and
// data), or 0 when unknown.
func (g *Gatekeeper) maxPayload() int {
	if nc := g.js.Conn(); nc != nil {
		return int(nc.MaxPayload())
	}
	return 0
}

// payloadSize is what the server counts against its max payload: the
// encoded headers and the data.
func payloadSize(m *nats.Msg) int {
	return m.Size() - len(m.Subject) - len(m.Reply)
}

// errTooLarge says when an intent's outcome could not be published: it is
// dead-lettered at once, before anything is decided or counted, rather
// than approved and then retried until its deliveries run out.
func (g *Gatekeeper) errTooLarge(ctx context.Context, m *delivery, it *hushv1.ContactIntent, pol *policy.Policy) error {
	limit := g.maxPayload()
	if limit <= 0 || len(m.data) < limit/2 {
		return nil // far from the limit: the outcome's headers are small
	}
	// The largest message the intent's outcome can take: its dispatch, or
	// the schedule of its deferral; both carry the intent's bytes. Their
	// headers are those publishOutcome sets, with a trace context of the
	// same size as the one it injects.
	probe := g.dispatchMsg(m, it)
	probe.Header.Set(bus.HeaderMsgID, it.GetId())
	probe.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(hushv1.Outcome_OUTCOME_APPROVED))
	probe.Header.Set(bus.HeaderPolicyVersion, pol.Version)
	g.o.Propagator.Inject(ctx, bus.HeaderCarrier(probe.Header))
	size := payloadSize(probe)
	subject := m.subject
	if h := m.headers.Get(deferral.HeaderIntentSubject); h != "" {
		subject = h
	}
	// A release time with nine fractional digits: the longest the
	// schedule's time headers can be.
	at := g.o.Now().Truncate(time.Second).Add(time.Second - time.Nanosecond)
	schedule := deferral.ScheduleMsg(g.o.Subjects, it, subject, m.data, m.headers, at)
	size = max(size, payloadSize(schedule))
	if size <= limit {
		return nil
	}
	return fmt.Errorf("its outcome would be %d bytes, over the server's max payload of %d", size, limit)
}

func (g *Gatekeeper) logDecision(d *hushv1.Decision, replayed bool) {
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
		g.o.Logger.Info("intent deferred", "intent_id", d.GetIntentId(), "customer_id", d.GetCustomerId(),
			"channel", d.GetChannel(), "release_at", d.GetReleaseAt().AsTime(), "policy_version", d.GetPolicyVersion(),
			"trace_id", d.GetTraceId(), "replayed", replayed)
		return
	}
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
		if g.o.Logger.Enabled(context.Background(), -4) { // slog.LevelDebug
			g.o.Logger.Debug("intent approved", "intent_id", d.GetIntentId(), "customer_id", d.GetCustomerId(),
				"channel", d.GetChannel(), "policy_version", d.GetPolicyVersion(), "trace_id", d.GetTraceId(), "replayed", replayed)
		}
		return
	}
	reason, rule := "", ""
	if len(d.GetReasons()) > 0 {
		reason, rule = policy.ShortCode(d.GetReasons()[0].GetCode()), d.GetReasons()[0].GetRule()
	}
	g.o.Logger.Info("intent suppressed", "intent_id", d.GetIntentId(), "customer_id", d.GetCustomerId(),
		"channel", d.GetChannel(), "category", d.GetCategory(), "outcome", policy.ShortOutcome(d.GetOutcome()),
		"reason", reason, "rule", rule, "policy_version", d.GetPolicyVersion(), "trace_id", d.GetTraceId(), "replayed", replayed)
}

// suppressionMsg is the suppression log's record of d, with the intent
// without what the log must not hold: the payload and the destination
// (hashed). They are taken out of it while the record is encoded and put
// back after, rather than the intent cloned for every suppression: it is
// this worker's own.
func suppressionMsg(subject string, it *hushv1.ContactIntent, d *hushv1.Decision) (*nats.Msg, error) {
	payload, dest := it.Payload, it.Destination
	it.Payload, it.Destination = nil, ""
	defer func() { it.Payload, it.Destination = payload, dest }()
	rec := &hushv1.SuppressionRecord{Decision: d, Intent: it, DestinationHash: policy.HashDestination(dest)}
	return bus.NewMsg(subject, "", rec)
}
