package gatekeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver advisory Hush reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// ruleExhausted names the record that claims an exhausted intent for the
// dead letters.
const ruleExhausted = "delivery.exhausted"

func exhaustedMessage(d *hushv1.Decision) string {
	if len(d.GetReasons()) > 0 {
		return d.GetReasons()[0].GetMessage()
	}
	return "deliveries exhausted"
}

// handleAdvisory takes a MAX_DELIVERIES advisory: JetStream gave up on an
// intent without it being acked or terminated, which happens when the
// gatekeeper handling its last delivery died (a failure it survives is
// settled by exhaust). The intent must still end somewhere, once: when a
// decision was recorded for it, that decision's outcome is published again
// (the duplicate window drops it if it was published already); otherwise a
// dead-letter claim is recorded, atomically, so that a late worker still
// deciding it replays the claim and cannot dispatch it too, and the intent
// is dead-lettered. The advisory is acked once that is done.
//
// Once the intent is read back, d becomes that intent: a dead letter
// records it, and settling it settles the advisory.
func (g *Gatekeeper) handleAdvisory(ctx context.Context, d *delivery) result {
	var a maxDeliveriesAdvisory
	if err := json.Unmarshal(d.data, &a); err != nil || a.StreamSeq == 0 {
		g.o.Logger.Error("unreadable max deliveries advisory", "err", err)
		return result{err: errUnreadable}
	}
	if a.Consumer != g.o.Durable && a.Consumer != g.ReleasedConsumerConfig().Durable {
		return result{} // another application's consumer on our streams
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := g.js.Stream(gctx, a.Stream)
	var raw *jetstream.RawStreamMsg
	if err == nil {
		raw, err = s.GetMsg(gctx, a.StreamSeq)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		g.o.Logger.Error("exhausted intent no longer in its stream", "stream", a.Stream, "stream_seq", a.StreamSeq)
		return result{}
	}
	if err != nil {
		g.o.Logger.Warn("exhausted intent not read; advisory handed back", "stream", a.Stream, "stream_seq", a.StreamSeq, "err", err)
		return result{err: fmt.Errorf("read exhausted intent: %w", err)}
	}
	*d = delivery{subject: raw.Subject, data: raw.Data, headers: raw.Header,
		stream: a.Stream, seq: raw.Sequence, delivered: a.Deliveries, msg: d.msg, termAcks: true, progress: d.progress}
	return g.finishExhausted(ctx, d, "max_deliver",
		fmt.Errorf("deliveries exhausted (%d): the gatekeeper stopped during the last one", d.delivered))
}

// finishExhausted ends an intent that is not to be processed again: its
// recorded decision is published, or else it is claimed for the dead
// letters and dead-lettered at stage with cause.
func (g *Gatekeeper) finishExhausted(ctx context.Context, m *delivery, stage string, cause error) result {
	it, err := bus.DecodeIntent(m.data, m.headers)
	if err != nil {
		return deadLetterAs("decode", err)
	}
	if it.GetCustomerId() == "" || it.GetId() == "" {
		return deadLetterAs(stage, cause)
	}
	now := g.o.Now()
	d, err := g.claimExhausted(ctx, it, cause, now)
	switch {
	case err != nil:
		return result{err: err}
	case d == nil:
		return deadLetterAs(stage, cause)
	case d.GetOutcome() == hushv1.Outcome_OUTCOME_INVALID:
		return deadLetterAs(stage, errors.New(exhaustedMessage(d)))
	default:
		// The advisory may name a producer's republish rather than the
		// message that made the decision; that one publishes its outcome.
		recorded, err := g.store.DecisionSource(ctx, it.GetCustomerId(), it.GetId())
		if err != nil {
			return result{err: err}
		}
		if republished(d, recorded, m.source()) {
			return g.duplicate(d, now)
		}
		return g.publishOutcome(ctx, m, it, d, true, now)
	}
}

// claimExhausted records that an intent ran out of deliveries, unless a
// decision is recorded already, which it returns: whichever records first
// wins, so an intent is never both dead-lettered and dispatched.
func (g *Gatekeeper) claimExhausted(ctx context.Context, it *hushv1.ContactIntent, cause error, now time.Time) (*hushv1.Decision, error) {
	claim := &hushv1.Decision{
		IntentId: it.GetId(), CustomerId: it.GetCustomerId(), Channel: it.GetChannel(), Category: it.GetCategory(),
		Outcome:   hushv1.Outcome_OUTCOME_INVALID,
		Reasons:   []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_INVALID, Rule: ruleExhausted, Message: cause.Error()}},
		DecidedAt: timestamppb.New(now),
	}
	return g.store.Claim(ctx, it.GetCustomerId(), it.GetId(), claim, g.policy.Load().DecisionRetention)
}
