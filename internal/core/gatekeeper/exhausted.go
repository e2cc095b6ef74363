package gatekeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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

// handleExhausted takes a MAX_DELIVERIES advisory: JetStream gave up on an
// intent without it being acked or terminated, which happens when the
// gatekeeper handling its last delivery died (a failure it survives is
// dead-lettered by retry). The intent must still end somewhere, once:
// when a decision was recorded for it, that decision's outcome is published
// again (the duplicate window drops it if it was published already);
// otherwise a dead-letter claim is recorded, atomically, so that a late
// worker still deciding it replays the claim and cannot dispatch it too,
// and the intent is dead-lettered. The advisory is acked once that is done.
func (g *Gatekeeper) handleExhausted(ctx context.Context, adv jetstream.Msg, inflight chan<- pending) {
	var a maxDeliveriesAdvisory
	if err := json.Unmarshal(adv.Data(), &a); err != nil || a.StreamSeq == 0 {
		g.o.Logger.Error("unreadable max deliveries advisory", "err", err)
		adv.Term()
		return
	}
	if a.Consumer != g.o.Durable && a.Consumer != g.ReleasedConsumerConfig().Durable {
		adv.Ack() // another application's consumer on our streams
		return
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
		adv.Ack()
		return
	}
	if err != nil {
		g.o.Logger.Warn("exhausted intent not read; advisory handed back", "stream", a.Stream, "stream_seq", a.StreamSeq, "err", err)
		adv.NakWithDelay(g.o.RetryBase)
		return
	}
	m := &exhaustedMsg{adv: adv, raw: raw, stream: a.Stream, deliveries: a.Deliveries}
	g.finishExhausted(ctx, m, inflight)
}

func (g *Gatekeeper) finishExhausted(ctx context.Context, m *exhaustedMsg, inflight chan<- pending) {
	defer func() {
		if r := recover(); r != nil {
			g.deadLetter(ctx, m, "panic", fmt.Errorf("panic: %v", r))
		}
	}()
	cause := fmt.Errorf("deliveries exhausted (%d): the gatekeeper stopped during the last one", m.deliveries)
	it, err := bus.DecodeIntent(m.Data(), m.Headers())
	if err != nil {
		g.deadLetter(ctx, m, "decode", err)
		return
	}
	if it.GetCustomerId() == "" || it.GetId() == "" {
		g.deadLetter(ctx, m, "max_deliver", cause)
		return
	}
	now := g.o.Now()
	d, err := g.claimExhausted(ctx, it, cause, now)
	if err != nil {
		g.retry(m, err)
		return
	}
	switch {
	case d == nil:
		g.deadLetter(ctx, m, "max_deliver", cause)
	case d.GetOutcome() == hushv1.Outcome_OUTCOME_INVALID:
		g.deadLetter(ctx, m, "max_deliver", errors.New(exhaustedMessage(d)))
	default:
		if err := g.publishOutcome(ctx, m, it, d, true, now, inflight); err != nil {
			g.retry(m, err)
		}
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

// exhaustedMsg is an intent read back from its stream after its deliveries
// ran out. Settling it settles the advisory that named it.
type exhaustedMsg struct {
	adv        jetstream.Msg
	raw        *jetstream.RawStreamMsg
	stream     string
	deliveries uint64
}

var _ jetstream.Msg = (*exhaustedMsg)(nil)

func (m *exhaustedMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{
		Sequence:     jetstream.SequencePair{Stream: m.raw.Sequence},
		NumDelivered: m.deliveries,
		Stream:       m.stream,
		Timestamp:    m.raw.Time,
	}, nil
}
func (m *exhaustedMsg) Data() []byte                        { return m.raw.Data }
func (m *exhaustedMsg) Headers() nats.Header                { return m.raw.Header }
func (m *exhaustedMsg) Subject() string                     { return m.raw.Subject }
func (m *exhaustedMsg) Reply() string                       { return "" }
func (m *exhaustedMsg) Ack() error                          { return m.adv.Ack() }
func (m *exhaustedMsg) DoubleAck(ctx context.Context) error { return m.adv.DoubleAck(ctx) }
func (m *exhaustedMsg) Nak() error                          { return m.adv.Nak() }
func (m *exhaustedMsg) NakWithDelay(d time.Duration) error  { return m.adv.NakWithDelay(d) }
func (m *exhaustedMsg) InProgress() error                   { return m.adv.InProgress() }
func (m *exhaustedMsg) Term() error                         { return m.adv.Ack() }
func (m *exhaustedMsg) TermWithReason(string) error         { return m.adv.Ack() }
