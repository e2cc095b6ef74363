// Package deferral keeps deferred intents until their release time: each is
// a JetStream message schedule on the deferred stream, which the server
// itself fires once at release_at into the released subject, where the
// gatekeeper decides the intent again. It also lists and cancels a
// customer's deferrals (hushctl deferred list|cancel).
package deferral

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Headers on a schedule message, besides JetStream's own.
const (
	// HeaderReleaseAt is the release time, RFC 3339 with milliseconds.
	HeaderReleaseAt = "Hush-Release-At"
	// HeaderIntentSubject is the subject the intent first arrived on.
	HeaderIntentSubject = "Hush-Intent-Subject"
	// HeaderCustomer and HeaderIntentID name the deferral.
	HeaderCustomer = "Hush-Customer"
	HeaderIntentID = "Hush-Intent-Id"
)

// JetStream's message scheduling headers (ADR-51, nats-server 2.12+).
const (
	hdrSchedule       = "Nats-Schedule"
	hdrScheduleTarget = "Nats-Schedule-Target"
	hdrScheduleTTL    = "Nats-Schedule-TTL"
)

// ReleasedTTL is how long a released intent stays in the deferred stream;
// the gatekeeper takes it within seconds, so this only bounds the stream.
const ReleasedTTL = 72 * time.Hour

// RuleCancelled is the rule named on the suppression of a cancelled
// deferral.
const RuleCancelled = "deferral.cancelled"

// ErrNotFound is returned by Cancel when the customer has no such deferral
// (never deferred, released already, or cancelled already).
var ErrNotFound = errors.New("no such deferral")

// ScheduleMsg returns the message that defers an intent: published to the
// deferred stream, it is released at releaseAt into the released subject
// of the intent's channel, carrying the intent as it arrived. Its
// Nats-Msg-Id names the intent and the release time, so that the deferral
// of a redelivered intent is stored once. Publishing again for the same
// intent replaces the earlier schedule (one schedule per subject).
func ScheduleMsg(s bus.Subjects, it *hushv1.ContactIntent, intentSubject string, data []byte, hdr nats.Header, releaseAt time.Time) *nats.Msg {
	m := nats.NewMsg(s.Deferred(it.GetCustomerId(), it.GetId()))
	m.Data = data
	for _, k := range []string{bus.HeaderContentType, "traceparent", "tracestate"} {
		if v := bus.Header(hdr, k); v != "" {
			m.Header.Set(k, v)
		}
	}
	at := releaseAt.UTC()
	m.Header.Set(hdrSchedule, "@at "+at.Format(time.RFC3339Nano))
	m.Header.Set(hdrScheduleTarget, s.Released(it.GetChannel()))
	m.Header.Set(hdrScheduleTTL, ReleasedTTL.String())
	m.Header.Set(HeaderReleaseAt, at.Format(time.RFC3339Nano))
	m.Header.Set(HeaderIntentSubject, intentSubject)
	m.Header.Set(HeaderCustomer, it.GetCustomerId())
	m.Header.Set(HeaderIntentID, it.GetId())
	m.Header.Set(bus.HeaderMsgID, LogMsgID(it.GetId(), releaseAt))
	return m
}

// LogMsgID is the Nats-Msg-Id of a deferral's schedule and of its entry in
// the suppression log: distinct from the intent id, which the intent's
// terminal outcome carries after its release.
func LogMsgID(intentID string, releaseAt time.Time) string {
	return intentID + "/deferred/" + strconv.FormatInt(releaseAt.UnixMilli(), 10)
}

// Deferred is one pending deferral.
type Deferred struct {
	IntentID   string
	CustomerID string
	Channel    string
	Category   string
	Topic      string
	Sender     string
	// ReleaseAt is when the intent is decided again.
	ReleaseAt time.Time
	// DeferredAt is when the deferral was stored.
	DeferredAt time.Time
	// Subject is where the intent first arrived.
	Subject string
}

// Deferrals lists and cancels deferred intents.
type Deferrals struct {
	js       jetstream.JetStream
	store    *store.Store
	subjects bus.Subjects
	// retention of the cancellation record in Redis.
	retention time.Duration
}

// New returns the deferrals under subjects. st records cancellations so
// that a redelivered intent replays them; retention is how long (the
// policy's decision retention).
func New(js jetstream.JetStream, st *store.Store, subjects bus.Subjects, retention time.Duration) *Deferrals {
	if retention <= 0 {
		retention = 72 * time.Hour
	}
	return &Deferrals{js: js, store: st, subjects: subjects, retention: retention}
}

// List returns a customer's pending deferrals, soonest release first.
func (d *Deferrals) List(ctx context.Context, customer string) ([]Deferred, error) {
	// On a NATS cluster a pull sent right after its consumer is created
	// can reach a server that does not know of the consumer yet (no
	// responders): the listing starts over, with a new consumer.
	for attempt := 1; ; attempt++ {
		out, err := d.list(ctx, customer)
		if err == nil || !errors.Is(err, nats.ErrNoResponders) || attempt == 5 {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

func (d *Deferrals) list(ctx context.Context, customer string) ([]Deferred, error) {
	stream := d.subjects.Stream(bus.StreamDeferred)
	c, err := d.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{d.subjects.DeferredOf(customer)},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("list deferrals of %s: %w", customer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("list deferrals of %s: %w", customer, err)
	}
	var out []Deferred
	for pending := info.NumPending; pending > 0; {
		batch, err := c.Fetch(int(min(pending, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("list deferrals of %s: %w", customer, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("list deferrals of %s: %w", customer, err)
			}
			pending = md.NumPending
			if dd, ok := fromMsg(m.Subject(), m.Data(), m.Headers(), md.Timestamp); ok {
				out = append(out, dd)
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("list deferrals of %s: %w", customer, err)
		}
		if n == 0 {
			break
		}
	}
	slices.SortFunc(out, func(a, b Deferred) int { return a.ReleaseAt.Compare(b.ReleaseAt) })
	return out, nil
}

func fromMsg(subject string, data []byte, hdr nats.Header, stored time.Time) (Deferred, bool) {
	if hdr.Get(hdrSchedule) == "" { // a purge marker, or not a schedule
		return Deferred{}, false
	}
	at, _ := time.Parse(time.RFC3339Nano, hdr.Get(HeaderReleaseAt))
	dd := Deferred{
		IntentID:   hdr.Get(HeaderIntentID),
		CustomerID: hdr.Get(HeaderCustomer),
		ReleaseAt:  at,
		DeferredAt: stored,
		Subject:    hdr.Get(HeaderIntentSubject),
	}
	if it, err := bus.DecodeIntent(data, hdr); err == nil {
		dd.Channel, dd.Category, dd.Topic, dd.Sender = it.GetChannel(), it.GetCategory(), it.GetTopic(), it.GetSender().GetService()
	}
	return dd, true
}

// Cancel cancels a pending deferral: the intent is recorded and logged as
// suppressed (rule deferral.cancelled) and its schedule removed, in that
// order, so that a release racing the cancellation replays the
// cancellation. It returns ErrNotFound when there is no such deferral.
func (d *Deferrals) Cancel(ctx context.Context, customer, intentID string) error {
	stream := d.subjects.Stream(bus.StreamDeferred)
	subject := d.subjects.Deferred(customer, intentID)
	s, err := d.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", intentID, err)
	}
	raw, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("cancel %s: %w", intentID, err)
	}
	if raw.Header.Get(hdrSchedule) == "" {
		return ErrNotFound
	}
	it, err := bus.DecodeIntent(raw.Data, raw.Header)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", intentID, err)
	}
	now := time.Now()
	dec := &hushv1.Decision{
		IntentId: it.GetId(), CustomerId: it.GetCustomerId(), Channel: it.GetChannel(), Category: it.GetCategory(),
		Outcome:   hushv1.Outcome_OUTCOME_SUPPRESSED,
		Reasons:   []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_DEFERRAL_CANCELLED, Rule: RuleCancelled, Message: "deferral cancelled by an operator"}},
		DecidedAt: timestamppb.New(now),
	}
	if err := d.store.Resolve(ctx, customer, intentID, dec, d.retention); err != nil {
		if errors.Is(err, store.ErrNotDeferred) {
			return ErrNotFound
		}
		return err
	}
	hash := policy.HashDestination(it.GetDestination())
	it.Payload, it.Destination = nil, ""
	rec := &hushv1.SuppressionRecord{Decision: dec, Intent: it, DestinationHash: hash}
	out, err := bus.NewMsg(d.subjects.Suppressed(it.GetChannel()), it.GetId(), rec)
	if err != nil {
		return err
	}
	out.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(dec.GetOutcome()))
	if _, err := d.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("cancel %s: log: %w", intentID, err)
	}
	// The producer's outcome feed and the customer's contact history have
	// it too (bus.StreamOutcomes), under the producer that published it.
	producer, _, _ := d.subjects.IntentSource(raw.Header.Get(HeaderIntentSubject))
	fb, err := bus.NewMsg(d.subjects.Outcome(producer, it.GetChannel(), it.GetCustomerId()), it.GetId(), rec)
	if err != nil {
		return err
	}
	fb.Header.Set(bus.HeaderMessageType, bus.MessageTypeRecord)
	fb.Header.Set(bus.HeaderOutcome, policy.ShortOutcome(dec.GetOutcome()))
	if _, err := d.js.PublishMsg(ctx, fb); err != nil {
		return fmt.Errorf("cancel %s: outcome: %w", intentID, err)
	}
	// A schedule whose message is gone never fires.
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("cancel %s: purge: %w", intentID, err)
	}
	return nil
}
