package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ErrNoService: Check and Outcomes speak as the producer, so they need
// Options.Service.
var ErrNoService = errors.New("client: Options.Service names no producer")

// InboxPrefix is the private reply prefix a producer's connection should
// use (nats.CustomInboxPrefix) to read its outcomes and check answers:
// deploy/nats/accounts.conf lets only that producer read it, where every
// producer may read the default _INBOX.>.
func InboxPrefix(producer string) string { return "_HUSH_INBOX." + bus.Token(producer) }

// Check asks Hush "may I contact?" for intents, as this producer
// (hush.check.<Options.Service>): for each, in order, the decision the gate
// would make now, counting nothing. An answer says the outcome, the reasons
// and, when the intent would not pass now, next_allowed_at: when it could.
// It is advisory (the gate decides again on Publish). Intents are filled
// in as Publish does (id, sender.service) but not validated here: an
// invalid one is answered OUTCOME_INVALID with its error. Large batches are
// sent in several requests, each under the server's max payload.
func (c *Client) Check(ctx context.Context, intents ...*hushv1.ContactIntent) ([]*hushv1.CheckAnswer, error) {
	if c.o.Service == "" {
		return nil, ErrNoService
	}
	nc := c.js.Conn()
	limit := int(nc.MaxPayload()) * 3 / 4
	var out []*hushv1.CheckAnswer
	var batch hushv1.CheckRequest
	size := 0
	send := func() error {
		if len(batch.Intents) == 0 {
			return nil
		}
		answers, err := c.check(ctx, nc, &batch)
		if err != nil {
			return err
		}
		out = append(out, answers...)
		batch.Intents, size = nil, 0
		return nil
	}
	for _, it := range intents {
		if it.GetId() == "" {
			it.Id = c.o.NewID()
		}
		if it.GetSender().GetService() == "" {
			if it.Sender == nil {
				it.Sender = &hushv1.Sender{}
			}
			it.Sender.Service = c.o.Service
		}
		n := proto.Size(it) + 8
		if size+n > limit {
			if err := send(); err != nil {
				return nil, err
			}
		}
		batch.Intents = append(batch.Intents, it)
		size += n
	}
	if err := send(); err != nil {
		return nil, err
	}
	return out, nil
}

// check sends one CheckRequest.
func (c *Client) check(ctx context.Context, nc *nats.Conn, req *hushv1.CheckRequest) ([]*hushv1.CheckAnswer, error) {
	msg, err := bus.NewMsg(c.o.Subjects.Check(c.o.Service), "", req)
	if err != nil {
		return nil, err
	}
	resp, err := nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, fmt.Errorf("check: %s %s", code, resp.Header.Get(micro.ErrorHeader))
	}
	var out hushv1.CheckResponse
	if err := bus.Decode(resp.Data, resp.Header, &out); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if len(out.GetAnswers()) != len(req.GetIntents()) {
		return nil, fmt.Errorf("check: %d answers for %d intents", len(out.GetAnswers()), len(req.GetIntents()))
	}
	return out.GetAnswers(), nil
}

// Outcomes delivers the decisions of this producer's intents to f, oldest
// first, from Hush's outcome stream, with the one durable consumer the
// producer may create (named after it, filtered to
// hush.outcome.<Options.Service>.>): several processes of one producer
// share the decisions between them, and a restart resumes where the last
// one stopped. A decision is acknowledged once f returns. Stop the
// returned context to stop reading (Drain to finish what is in hand). The
// connection should use InboxPrefix(producer), which no other producer
// can read.
func (c *Client) Outcomes(ctx context.Context, f func(*hushv1.Decision)) (jetstream.ConsumeContext, error) {
	if c.o.Service == "" {
		return nil, ErrNoService
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.o.Subjects.Stream(bus.StreamOutcomes), jetstream.ConsumerConfig{
		Durable:       bus.OutcomeConsumer(c.o.Service),
		Description:   "Outcomes of " + c.o.Service + "'s intents",
		FilterSubject: c.o.Subjects.OutcomesOf(c.o.Service),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("outcomes: %w", err)
	}
	return cons.Consume(func(m jetstream.Msg) {
		d, err := feedDecision(m)
		if err != nil {
			m.Term() // not a decision: never redeliver it
			return
		}
		f(d)
		m.Ack()
	})
}

// feedDecision is the Decision an outcome-feed message holds: a record
// (the Decision and the intent without payload) as the gatekeeper writes
// it, or a bare Decision as it was written before the feed and the contact
// history were one stream.
func feedDecision(m jetstream.Msg) (*hushv1.Decision, error) {
	if m.Headers().Get(bus.HeaderMessageType) != bus.MessageTypeRecord {
		d := new(hushv1.Decision)
		return d, bus.Decode(m.Data(), m.Headers(), d)
	}
	rec := new(hushv1.SuppressionRecord)
	if err := bus.Decode(m.Data(), m.Headers(), rec); err != nil {
		return nil, err
	}
	if rec.GetDecision() == nil {
		return nil, errors.New("outcome record without a decision")
	}
	return rec.GetDecision(), nil
}
