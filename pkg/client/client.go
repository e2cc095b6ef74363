// Package client is the producer SDK: services that want to contact a
// customer publish a ContactIntent with Publish and let Hush decide; a
// channel's inbound service, which hears from a customer, records it with
// Inbound.
//
// Publish validates an intent before it leaves the process (the same rules
// the gatekeeper applies, so a bad intent fails at its source, not in the
// dead-letter stream), fills in a missing id and creation time, injects the
// caller's W3C trace context into the message headers and publishes
// asynchronously on hush.intent.<producer>.<channel>; Flush waits until
// JetStream has stored everything published so far. The producer is the
// sender: NATS lets a producer's credential publish under its own name only,
// and Hush takes the sender from the subject.
//
//	c, err := client.New(nc, client.Options{Service: "campaigns"})
//	...
//	id, err := c.Publish(ctx, &hushv1.ContactIntent{CustomerId: "c-42", Channel: "email", Category: "marketing"})
//	...
//	err = c.Close(ctx) // flushes
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Errors a producer can act on; check them with errors.Is.
var (
	// ErrNotStored: JetStream did not confirm it stored the message (no
	// stream, timeout, NATS down). Publishing again with the same id is
	// safe: Hush drops duplicates.
	ErrNotStored = errors.New("not stored by jetstream")
	// ErrClosed: Publish after Close.
	ErrClosed = errors.New("client closed")
)

// PublishError tells which intent was not stored; it wraps ErrNotStored
// and the cause.
type PublishError struct {
	IntentID string
	Err      error
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("intent %s: %v: %v", e.IntentID, ErrNotStored, e.Err)
}

// Unwrap returns ErrNotStored and the cause.
func (e *PublishError) Unwrap() []error { return []error{ErrNotStored, e.Err} }

// Options configure a Client. Zero values take the defaults shown.
type Options struct {
	// Subjects are Hush's subjects (prefix "hush").
	Subjects bus.Subjects
	// Categories are the categories an intent may use
	// (DefaultCategories, those of the default policy). List those of the
	// policy your Hush runs; the gatekeeper checks them again.
	Categories []string
	// Service is the producer's name: intents are published under it
	// (hush.intent.<service>.<channel>), which the producer's NATS
	// credential must allow, and put in sender.service when an intent
	// leaves it empty; an intent naming another sender is refused. Empty:
	// each intent is published under its own sender.service.
	Service string
	// JSON publishes protojson instead of binary protobuf (easier to read
	// with `nats sub`; a little larger).
	JSON bool
	// Propagator injects trace context (W3C traceparent/tracestate and
	// baggage).
	Propagator propagation.TextMapPropagator
	// TracerProvider makes the PRODUCER span of each publish (no-op).
	TracerProvider trace.TracerProvider
	// NewID makes ids for intents without one (128 random bits, hex).
	NewID func() string
	// Now is the clock for created_at (time.Now).
	Now func() time.Time
	// MaxPending bounds publishes awaiting JetStream's acknowledgement
	// (4096); Publish waits when it is reached.
	MaxPending int
}

// Client publishes intents and inbound contacts. It is safe for concurrent
// use.
type Client struct {
	js     jetstream.JetStream
	o      Options
	tracer trace.Tracer

	mu      sync.Mutex
	pending []pendingAck
	failed  []error
	closed  bool
}

type pendingAck struct {
	id  string
	ack jetstream.PubAckFuture
}

// New returns a client publishing on nc.
func New(nc *nats.Conn, o Options) (*Client, error) {
	if o.Subjects.Prefix == "" {
		o.Subjects = bus.NewSubjects("")
	}
	if o.Categories == nil {
		o.Categories = DefaultCategories
	}
	if o.Propagator == nil {
		o.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	if o.NewID == nil {
		o.NewID = randomID
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 4096
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.MaxPending),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Client{js: js, o: o, tracer: o.TracerProvider.Tracer("github.com/hush-oss/hush/pkg/client")}, nil
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Publish validates an intent and publishes it asynchronously on
// hush.intent.<producer>.<channel>, with Nats-Msg-Id = its id. It fills in
// the id (when empty), created_at and sender.service (Options.Service) on
// it, and returns the id. An ErrInvalid error means nothing was sent. Errors of the
// asynchronous part are reported by Flush.
func (c *Client) Publish(ctx context.Context, it *hushv1.ContactIntent) (string, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if it.GetId() == "" {
		it.Id = c.o.NewID()
	}
	if it.GetCreatedAt() == nil {
		it.CreatedAt = timestamppb.New(c.o.Now())
	}
	if it.GetSender().GetService() == "" && c.o.Service != "" {
		if it.Sender == nil {
			it.Sender = &hushv1.Sender{}
		}
		it.Sender.Service = c.o.Service
	}
	if err := validate(it, c.o.Categories); err != nil {
		return it.GetId(), err
	}
	producer := it.GetSender().GetService()
	switch {
	case c.o.Service != "" && producer != c.o.Service:
		return it.GetId(), fmt.Errorf("%w: sender.service: %q is not this producer, %q: Hush takes the sender from the credential", ErrInvalid, producer, c.o.Service)
	case bus.Token(producer) != producer:
		return it.GetId(), fmt.Errorf("%w: sender.service: %q is not a subject token (letters, digits, '-' and '_')", ErrInvalid, producer)
	}
	if na := it.GetNotAfter(); na != nil && !na.AsTime().After(c.o.Now()) {
		return it.GetId(), fmt.Errorf("%w: not_after: already past", ErrInvalid)
	}
	subject := c.o.Subjects.Intent(producer, it.GetChannel())
	msg, err := c.message(subject, it.GetId(), it)
	if err != nil {
		return it.GetId(), err
	}
	ctx, span := c.tracer.Start(ctx, "hush.intent publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", it.GetId())))
	defer span.End()
	c.o.Propagator.Inject(ctx, bus.HeaderCarrier(msg.Header))
	// With MaxPending publishes unacknowledged, wait for room (as long as
	// ctx allows) rather than fail.
	var ack jetstream.PubAckFuture
	for {
		ack, err = c.js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Second))
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return it.GetId(), &PublishError{IntentID: it.GetId(), Err: err}
	}
	c.mu.Lock()
	c.pending = append(c.pending, pendingAck{it.GetId(), ack})
	if len(c.pending) >= 1024 {
		c.reapLocked()
	}
	c.mu.Unlock()
	return it.GetId(), nil
}

func (c *Client) message(subject, id string, m proto.Message) (*nats.Msg, error) {
	if !c.o.JSON {
		return bus.NewMsg(subject, id, m)
	}
	data, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(bus.HeaderContentType, bus.ContentTypeJSON)
	if id != "" {
		msg.Header.Set(bus.HeaderMsgID, id)
	}
	return msg, nil
}

// reapLocked drops acknowledged publishes, keeping the failures for Flush.
func (c *Client) reapLocked() {
	kept := c.pending[:0]
	for _, p := range c.pending {
		select {
		case <-p.ack.Ok():
		case err := <-p.ack.Err():
			c.failed = append(c.failed, &PublishError{IntentID: p.id, Err: err})
		default:
			kept = append(kept, p)
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
}

// Flush waits until JetStream has acknowledged every intent published so
// far, and returns the publishes that failed since the last Flush (each a
// *PublishError wrapping ErrNotStored), joined.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	failed := c.failed
	c.failed = nil
	c.mu.Unlock()
	for i, p := range pending {
		select {
		case <-p.ack.Ok():
		case err := <-p.ack.Err():
			failed = append(failed, &PublishError{IntentID: p.id, Err: err})
		case <-ctx.Done():
			c.mu.Lock()
			c.pending = append(pending[i:], c.pending...)
			c.mu.Unlock()
			return errors.Join(append(failed, fmt.Errorf("flush: %w", ctx.Err()))...)
		}
	}
	return errors.Join(failed...)
}

// Close flushes and refuses further publishes.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Flush(ctx)
}

// Inbound records that a customer reached out (a reply window opens for the
// thread, for replies on the channel's family): it publishes ic on
// hush.inbound.<channel> and waits until JetStream stored it. received_at
// defaults to now. Only the channel's inbound service may: its NATS
// credential, not a producer's, allows that subject.
func (c *Client) Inbound(ctx context.Context, ic *hushv1.InboundContact) error {
	if err := checkInbound(ic); err != nil {
		return err
	}
	if ic.GetReceivedAt() == nil {
		ic.ReceivedAt = timestamppb.New(c.o.Now())
	}
	id := "inbound:" + ic.GetCustomerId() + ":" + ic.GetThreadId() + ":" + fmt.Sprint(ic.GetReceivedAt().AsTime().UnixMilli())
	msg, err := c.message(c.o.Subjects.Inbound(ic.GetChannel()), id, ic)
	if err != nil {
		return err
	}
	c.o.Propagator.Inject(ctx, bus.HeaderCarrier(msg.Header))
	if _, err := c.js.PublishMsg(ctx, msg); err != nil {
		return &PublishError{IntentID: id, Err: err}
	}
	return nil
}

func checkInbound(ic *hushv1.InboundContact) error {
	switch {
	case ic.GetCustomerId() == "":
		return fmt.Errorf("%w: customer_id: required", ErrInvalid)
	case !isChannel(ic.GetChannel()):
		return fmt.Errorf("%w: channel: unknown channel %q", ErrInvalid, ic.GetChannel())
	case ic.GetThreadId() == "":
		return fmt.Errorf("%w: thread_id: required", ErrInvalid)
	}
	return nil
}
