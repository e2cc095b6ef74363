package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream kinds, as passed to Subjects.Stream.
const (
	StreamIntents    = "INTENTS"
	StreamInbound    = "INBOUND"
	StreamDispatch   = "DISPATCH"
	StreamSuppressed = "SUPPRESSED"
	StreamDeadLetter = "DEADLETTER"
	// StreamPrefs is the consent history (hush.prefs.changed), kept
	// forever: preferences are rebuilt from it.
	StreamPrefs = "PREFS"
	// StreamDeferred holds deferred intents as JetStream message schedules
	// and the intents they release; see docs/reliability.md.
	StreamDeferred = "DEFERRED"
	// StreamAdvisories captures the MAX_DELIVERIES advisories of the
	// gatekeeper's consumers, so that an intent whose last delivery died
	// with its gatekeeper is still dead-lettered.
	StreamAdvisories = "ADVISORIES"
)

// DeferredRetention bounds how long a deferral can wait: longer than the
// longest window a cap or a customer's own frequency can name (31 days).
const DeferredRetention = 35 * 24 * time.Hour

// StreamOptions tune the streams Hush creates.
type StreamOptions struct {
	// Replicas is the stream replication factor (1 on a single server,
	// 3 on a cluster).
	Replicas int
	// DuplicateWindow is how long JetStream remembers Nats-Msg-Id values on
	// intents and dispatch: a republished intent or a retried dispatch
	// inside it is dropped. Redeliveries of one intent (AckWait×MaxDeliver
	// at most) must happen inside it; a producer's republish after it is
	// still dispatched once (the gatekeeper recognises it by its decision
	// record). Zero keeps each existing stream's window, and creates new
	// streams with DefaultDuplicateWindow, so that a service that does not
	// own the setting never resets what the operator chose.
	DuplicateWindow time.Duration
	// Retention is how long intents and dispatches are kept.
	Retention time.Duration
	// IntentRetention, when set, is how long intents and inbound contacts
	// are kept instead: long enough for a policy simulation to replay the
	// period it is asked about (see docs/operations.md). Zero keeps each
	// existing stream's setting, and creates new streams with Retention,
	// so that a service that does not own the setting never resets it.
	IntentRetention time.Duration
	// LogRetention is how long the suppression log and dead letters are kept.
	LogRetention time.Duration
}

// DefaultDuplicateWindow is the duplicate window of a stream created
// without one.
const DefaultDuplicateWindow = 10 * time.Minute

// DefaultStreamOptions are sensible for a single server.
func DefaultStreamOptions() StreamOptions {
	return StreamOptions{
		Replicas:        1,
		DuplicateWindow: DefaultDuplicateWindow,
		Retention:       72 * time.Hour,
		LogRetention:    30 * 24 * time.Hour,
	}
}

// StreamConfigs returns the configuration of every Hush stream.
func (s Subjects) StreamConfigs(o StreamOptions) []jetstream.StreamConfig {
	base := func(kind, desc string, subjects []string, age time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        s.Stream(kind),
			Description: desc,
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      age,
			Replicas:    max(o.Replicas, 1),
			Duplicates:  o.DuplicateWindow,
		}
	}
	return []jetstream.StreamConfig{
		base(StreamIntents, "Contact intents from producers, decided by the gatekeeper", []string{s.All("intent")}, o.intentRetention()),
		base(StreamInbound, "Contacts customers made, opening reply windows", []string{s.All("inbound")}, o.intentRetention()),
		base(StreamDispatch, "Approved intents for the channel senders", []string{s.All("dispatch")}, o.Retention),
		base(StreamSuppressed, "The suppression log: every intent not sent, with why", []string{s.All("suppressed")}, o.LogRetention),
		base(StreamDeadLetter, "Undecodable or invalid intents, with the error", []string{s.DeadLetter()}, o.LogRetention),
		base(StreamPrefs, "Consent history: every preference change, who, when, via what, old and new", []string{s.PrefsChanged()}, 0),
		s.deferredConfig(base),
		base(StreamAdvisories, "Intents whose deliveries were exhausted, for dead-lettering", s.MaxDeliveriesAdvisories(), o.LogRetention),
		base(StreamOutcomes, "Every decision, without payload or destination, under its producer and its customer: the producers' outcome feed and the contact history", []string{s.All("outcome")}, max(o.Retention, HistoryRetention)),
	}
}

func (o StreamOptions) intentRetention() time.Duration {
	if o.IntentRetention > 0 {
		return o.IntentRetention
	}
	return o.Retention
}

// deferredConfig is the stream of deferrals: one message schedule per
// deferred intent on Deferred(customer, intent), firing at its release time
// into Released(channel) in the same stream (JetStream requires the target
// there), where the gatekeeper decides it again.
func (s Subjects) deferredConfig(base func(kind, desc string, subjects []string, age time.Duration) jetstream.StreamConfig) jetstream.StreamConfig {
	c := base(StreamDeferred, "Deferred intents, released at their release time and decided again",
		[]string{s.All("deferred"), s.All("released")}, DeferredRetention)
	c.AllowMsgSchedules = true
	c.AllowMsgTTL = true
	return c
}

// EnsureStreams creates every Hush stream, or updates it to the current
// configuration; it is safe to call from every replica at start-up. With
// a zero o.DuplicateWindow an existing stream keeps its window.
func (s Subjects) EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	for _, cfg := range s.StreamConfigs(o) {
		if o.IntentRetention <= 0 && (cfg.Name == s.Stream(StreamIntents) || cfg.Name == s.Stream(StreamInbound)) {
			st, err := js.Stream(ctx, cfg.Name)
			switch {
			case err == nil:
				cfg.MaxAge = st.CachedInfo().Config.MaxAge
			case !errors.Is(err, jetstream.ErrStreamNotFound):
				return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
			}
		}
		if o.DuplicateWindow <= 0 {
			cfg.Duplicates = DefaultDuplicateWindow
			st, err := js.Stream(ctx, cfg.Name)
			switch {
			case err == nil:
				cfg.Duplicates = st.CachedInfo().Config.Duplicates
			case !errors.Is(err, jetstream.ErrStreamNotFound):
				return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
