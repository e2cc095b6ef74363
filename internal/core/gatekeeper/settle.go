package gatekeeper

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// delivery is a message as the settle function sees it: what a dead letter
// records of it, and the JetStream message that is acked, handed back or
// terminated.
type delivery struct {
	subject string
	data    []byte
	headers nats.Header
	// stream, seq and delivered come from the JetStream metadata; zero when
	// it is unreadable.
	stream         string
	seq, delivered uint64
	msg            jetstream.Msg
	// termAcks: terminating the delivery acks msg instead. It is set on an
	// intent read back for the MAX_DELIVERIES advisory msg, which is done
	// once the intent is dead-lettered.
	termAcks bool
	// progress keeps msg from being redelivered while it is in hand.
	progress *progress
	// unsolicited is set by the decision: an agent's contact with no open
	// reply window. Its outcome and history record say so.
	unsolicited bool
}

func newDelivery(m jetstream.Msg) *delivery {
	d := &delivery{subject: m.Subject(), data: m.Data(), headers: m.Headers(), msg: m}
	if md, err := m.Metadata(); err == nil {
		d.stream, d.seq, d.delivered = md.Stream, md.Sequence.Stream, md.NumDelivered
	}
	return d
}

// receive takes a delivery in hand: until it is settled, JetStream hears
// every ackWait/3 that it is in progress, so that a short ack wait
// redelivers only what a gatekeeper that stopped held.
func (g *Gatekeeper) receive(m jetstream.Msg) *delivery {
	d := newDelivery(m)
	d.progress = startProgress(m, max(g.o.AckWait/3, 50*time.Millisecond))
	return d
}

// progress sends a message's progress signals until it is stopped.
type progress struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func startProgress(m jetstream.Msg, every time.Duration) *progress {
	p := new(progress)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t = time.AfterFunc(every, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopped {
			return
		}
		if err := m.InProgress(); errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return
		}
		p.t.Reset(every)
	})
	return p
}

// stop ends the signals; a nil progress has none.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.t.Stop()
	p.mu.Unlock()
}

// result is what processing a delivery comes to: nothing more to do (ack),
// publishes to await before the ack, or an error that says how to settle it
// (a *badInput is terminated and dead-lettered, errUnreadable terminated,
// anything else handed back with a delay).
type result struct {
	futs []jetstream.PubAckFuture
	// subject is where futs publish; span is their PRODUCER span, ended
	// once they are settled.
	subject string
	span    trace.Span
	// acked runs after the ack (the decision's log line and metrics).
	acked func()
	err   error
}

// badInput is input that can never be processed: it is dead-lettered with
// the stage that rejected it, and terminated.
type badInput struct {
	stage string
	err   error
}

func (e *badInput) Error() string { return e.stage + ": " + e.err.Error() }
func (e *badInput) Unwrap() error { return e.err }

func deadLetterAs(stage string, err error) result {
	return result{err: &badInput{stage: stage, err: err}}
}

// errUnreadable is a message with nothing in it to dead-letter (an
// unreadable advisory): it is terminated.
var errUnreadable = errors.New("unreadable")

// deliver takes a delivery through its consumer's processing to settle, or,
// when res is given, settles a processed one whose publishes are awaited
// (the settler's part). It holds the gatekeeper's one recover: a panic while
// processing, even in a propagator, costs this delivery only and
// dead-letters it; a panic while settling (in an observer, say) is logged,
// and the delivery is handed back and replayed, counted as a failed attempt
// (so that, should it panic on every delivery, it is dead-lettered after
// MaxDeliver of them).
func (g *Gatekeeper) deliver(ctx context.Context, c *consumer, d *delivery, res *result, inflight chan<- job) {
	settling := res != nil
	defer func() {
		r := recover()
		switch {
		case r == nil:
		case settling:
			d.progress.stop()
			g.o.Logger.Error("panic while settling a message", "subject", d.subject, "panic", fmt.Sprint(r))
			g.settlingPanicked(ctx, c, d, r)
		default:
			g.settle(ctx, c, d, deadLetterAs("panic", fmt.Errorf("panic: %v", r)))
		}
	}()
	if res == nil {
		// The CONSUMER span covers processing and, but for awaited
		// publishes, settling: a dead letter's log line carries its trace.
		var span trace.Span
		ctx, span = g.startSpan(ctx, c, d)
		defer span.End()
		pctx, cancel := context.WithTimeout(ctx, g.o.ProcessTimeout)
		defer cancel()
		r := g.process(pctx, c, d)
		settling = true
		if len(r.futs) > 0 {
			inflight <- job{c: c, d: d, res: r}
			return
		}
		res = &r
	}
	g.settle(ctx, c, d, *res)
}

// settlingPanicked hands back a delivery whose settling panicked, counted
// as a failed attempt: JetStream never gives up on an intent, so one that
// panics on every delivery is dead-lettered by retry after MaxDeliver. A
// second panic, in retry itself, is logged and the delivery left to its
// ack wait.
func (g *Gatekeeper) settlingPanicked(ctx context.Context, c *consumer, d *delivery, r any) {
	defer func() {
		if r := recover(); r != nil {
			g.o.Logger.Error("panic while handing back a message", "subject", d.subject, "panic", fmt.Sprint(r))
		}
	}()
	g.retry(ctx, c, d, fmt.Errorf("panic while settling: %v", r))
}

// startSpan continues the trace the delivery's headers carry in its
// consumer's CONSUMER span; none for a consumer without a span name.
func (g *Gatekeeper) startSpan(ctx context.Context, c *consumer, d *delivery) (context.Context, trace.Span) {
	if c.span == "" {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = g.o.Propagator.Extract(ctx, bus.HeaderCarrier(d.headers))
	return g.tracer.Start(ctx, c.span, trace.WithSpanKind(trace.SpanKindConsumer))
}

// settle is the one place a delivery is settled: acked once its publishes
// are acknowledged, dead-lettered and terminated when it is bad input,
// terminated when unreadable, handed back otherwise.
func (g *Gatekeeper) settle(ctx context.Context, c *consumer, d *delivery, r result) {
	defer d.progress.stop()
	err := r.err
	if err == nil {
		if werr := wait(r.futs); werr != nil {
			err = fmt.Errorf("%w %s: %w", ErrPublish, r.subject, werr)
		}
	}
	if r.span != nil {
		defer r.span.End()
		if err != nil {
			r.span.RecordError(err)
			r.span.SetStatus(codes.Error, "publish")
		}
	}
	var bad *badInput
	switch {
	case err == nil:
		if aerr := d.msg.Ack(); aerr != nil {
			g.o.Logger.Warn("ack", "subject", d.subject, "err", aerr)
		}
		if r.acked != nil {
			r.acked()
		}
	case errors.As(err, &bad):
		g.deadLetter(ctx, d, bad.stage, bad.err)
	case errors.Is(err, errUnreadable):
		d.msg.Term()
	default:
		g.retry(ctx, c, d, err)
	}
}

// wait returns the first publish error, or nil once every publish is
// acknowledged.
func wait(futs []jetstream.PubAckFuture) error {
	var first error
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// retry hands a delivery back after a transient failure, with a jittered
// exponential delay; on its last delivery it is settled for good instead
// (see exhaust), so that nothing is dropped silently.
//
// An intent's failures are counted in its attempts record, not by its
// deliveries, which also count the gatekeepers that died holding it: those
// must never exhaust a valid intent. When Redis cannot count, nothing can
// be decided or claimed either, and the intent is handed back.
func (g *Gatekeeper) retry(ctx context.Context, c *consumer, d *delivery, cause error) {
	g.o.Observer.Retried(cause)
	delivered := max(d.delivered, 1)
	failed := delivered
	if c.claims && d.stream != "" {
		failed = 0
		if a, _, err := g.store.MarkAttempt(ctx, d.stream, d.seq, store.MarkFail, attemptsRetention); err == nil {
			failed = uint64(a.Failed) + 1
		}
	}
	if c.exhausts && failed >= uint64(g.o.MaxDeliver) {
		g.exhaust(ctx, c, d, cause)
		return
	}
	// The delay grows with the failures, not with the deaths of
	// gatekeepers that held it.
	delay := g.backoff(delivered)
	if failed > 0 {
		delay = g.backoff(failed)
	}
	g.o.Logger.Warn("intent retried", "subject", d.subject, "deliveries", delivered, "failures", failed, "delay", delay, "err", cause)
	d.msg.NakWithDelay(delay)
}

// backoff is the delay before the next attempt of a message delivered
// delivered times: RetryBase·2^(delivered-1), capped at RetryMax, then
// jittered uniformly in [d/2, d] (docs/reliability.md).
func (g *Gatekeeper) backoff(delivered uint64) time.Duration {
	delay := g.o.RetryBase << min(max(delivered, 1)-1, 16)
	delay = min(delay, g.o.RetryMax)
	return delay/2 + rand.N(delay/2+1)
}

// exhaust settles a delivery whose last attempt failed: it is dead-lettered
// with its last error. An intent is dead-lettered only if it can be claimed
// as such; a decision already recorded (decided, but its outcome's publish
// failed) must be published, never dead-lettered beside it, so the intent is
// handed back, and each delivery publishes the recorded outcome again.
func (g *Gatekeeper) exhaust(ctx context.Context, c *consumer, d *delivery, cause error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if it, err := bus.DecodeIntent(d.data, d.headers); c.claims && err == nil && it.GetCustomerId() != "" && it.GetId() != "" {
		dec, err := g.claimExhausted(ctx, it, cause, g.o.Now())
		if err != nil || dec != nil && dec.GetOutcome() != hushv1.Outcome_OUTCOME_INVALID {
			g.o.Logger.Warn("intent exhausted its attempts with a decision to publish; handed back",
				"subject", d.subject, "deliveries", d.delivered, "err", cause, "claim_err", err)
			d.msg.NakWithDelay(g.o.RetryMax)
			return
		}
	}
	g.o.Logger.Error("intent exhausted its deliveries", "subject", d.subject, "deliveries", d.delivered, "err", cause)
	g.deadLetter(ctx, d, "max_deliver", cause)
}

// deadLetter publishes input that can never be decided, with the error, and
// terminates it. It waits for the publish: dead letters are rare, and the
// input must not be terminated before its dead letter is stored.
func (g *Gatekeeper) deadLetter(ctx context.Context, d *delivery, stage string, cause error) {
	msgID := ""
	if d.stream != "" {
		msgID = fmt.Sprintf("dl-%s-%d", d.stream, d.seq)
	}
	out, err := g.deadLetterMsg(d, stage, cause, msgID)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = g.js.PublishMsg(ctx, out)
	}
	if err != nil {
		delay := g.backoff(d.delivered)
		g.o.Logger.ErrorContext(ctx, "dead letter not published; intent handed back", "subject", d.subject, "stage", stage, "delay", delay, "err", err)
		d.msg.NakWithDelay(delay)
		return
	}
	g.o.Logger.WarnContext(ctx, "intent dead-lettered", "subject", d.subject, "stage", stage, "err", logSafe(cause.Error()), "stream_seq", d.seq)
	if d.termAcks {
		d.msg.Ack()
	} else {
		d.msg.TermWithReason(stage + ": " + truncate(logSafe(cause.Error()), 200))
	}
	g.o.Observer.DeadLettered(stage)
}

// deadLetterMsg builds the dead letter of a delivery, whatever its bytes and
// size. Protobuf strings must be UTF-8, so the strings that quote the input
// (subject, headers, error) are made valid; the data is carried as bytes,
// with its size and SHA-256. When the dead letter would exceed the server's
// max payload, it carries only the data's first bytes (data_truncated),
// then, if still too large, no headers.
func (g *Gatekeeper) deadLetterMsg(d *delivery, stage string, cause error, msgID string) (*nats.Msg, error) {
	sum := sha256.Sum256(d.data)
	dl := &hushv1.DeadLetter{
		Subject:        strings.ToValidUTF8(d.subject, "\uFFFD"),
		Data:           d.data,
		Headers:        firstValues(d.headers),
		Error:          strings.ToValidUTF8(cause.Error(), "\uFFFD"),
		Stage:          stage,
		ReceivedAt:     timestamppb.New(g.o.Now()),
		StreamSequence: d.seq,
		DeliveryCount:  d.delivered,
		DataSize:       uint64(len(d.data)),
		DataSha256:     sum[:],
	}
	out, err := bus.NewMsg(g.o.Subjects.DeadLetter(), msgID, dl)
	limit := g.maxPayload()
	if err != nil || limit <= 0 || payloadSize(out) <= limit {
		return out, err
	}
	// What is over the limit comes off the data, and a little more: the
	// data field's length prefix and the truncation flag.
	over := payloadSize(out) - limit
	dl.Data = d.data[:max(len(d.data)-over-16, 0)]
	dl.DataTruncated = true
	if out, err = bus.NewMsg(g.o.Subjects.DeadLetter(), msgID, dl); err != nil || payloadSize(out) <= limit {
		return out, err
	}
	dl.Headers = nil
	return bus.NewMsg(g.o.Subjects.DeadLetter(), msgID, dl)
}

func firstValues(h nats.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			out[strings.ToValidUTF8(k, "\uFFFD")] = strings.ToValidUTF8(v[0], "\uFFFD")
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
