// Package gatekeeper is the consumer every contact intent passes through: it
// decodes and validates each intent, decides it with the policy and the
// store, publishes the outcome (dispatch, suppression log or dead letter) and
// acknowledges the intent only once that outcome is durably published.
package gatekeeper

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Options tune a Gatekeeper. Zero values take the defaults shown.
type Options struct {
	Subjects bus.Subjects
	// Durable is the consumer name shared by every replica ("gatekeeper").
	Durable string
	// Workers decide messages concurrently (64).
	Workers int
	// MaxAckPending bounds intents in flight across all replicas (4096).
	MaxAckPending int
	// AckWait is how long JetStream waits before redelivering a message
	// its gatekeeper stopped acknowledging (3s): short, so that the
	// intents a killed replica held are decided by the others within
	// seconds. A message in hand is kept with a progress signal every
	// AckWait/3, however long it takes.
	AckWait time.Duration
	// ProcessTimeout bounds the processing of one message (10s).
	ProcessTimeout time.Duration
	// MaxDeliver is the number of attempts that fail (a Redis or NATS
	// error) before an intent is dead-lettered with its last error (10).
	// Deliveries lost with a gatekeeper that died do not count: JetStream
	// itself never gives up on an intent (see attempt).
	MaxDeliver int
	// MaxCrashes is the number of times a gatekeeper may die while
	// processing an intent alone before the intent is dead-lettered as
	// the cause (3).
	MaxCrashes int
	// ReleaseSlack tolerates clock skew between the JetStream server that
	// releases a deferral and this replica (2s).
	ReleaseSlack time.Duration
	// RetryBase and RetryMax bound the jittered exponential delay of a
	// retry after a transient failure (250ms, 30s).
	RetryBase, RetryMax time.Duration
	// PrefsCacheSize bounds the preferences cache, in customers (100000).
	PrefsCacheSize int
	// PolicyReplicas are the replicas of the policies bucket when the
	// gatekeeper creates it (1; 3 on a cluster).
	PolicyReplicas int
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Observer is told about every outcome (metrics).
	Observer Observer
	// Now is the clock (time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Subjects.Prefix == "" {
		o.Subjects = bus.NewSubjects("")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Durable == "" {
		o.Durable = "gatekeeper"
	}
	def(&o.Workers, 64)
	def(&o.MaxAckPending, 4096)
	def(&o.MaxDeliver, 10)
	def(&o.MaxCrashes, 3)
	def(&o.PrefsCacheSize, 100_000)
	defDur(&o.AckWait, 3*time.Second)
	defDur(&o.ProcessTimeout, 10*time.Second)
	defDur(&o.RetryBase, 250*time.Millisecond)
	defDur(&o.RetryMax, 30*time.Second)
	defDur(&o.ReleaseSlack, 2*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Observer is told about outcomes as they happen; metrics implement it.
type Observer interface {
	// Decided is called once a decision's outcome is published: took runs
	// from receipt, sincePublish from the intent's publish to its stream
	// (zero when unknown).
	Decided(d *hushv1.Decision, replayed bool, took, sincePublish time.Duration)
	// DeadLettered is called once a dead letter is published.
	DeadLettered(stage string)
	// Retried is called when an intent is handed back for redelivery.
	Retried(err error)
	// InFlight is called with +1 when a worker takes an intent and -1 when
	// it is done with it.
	InFlight(delta int)
}

type nopObserver struct{}

func (nopObserver) Decided(*hushv1.Decision, bool, time.Duration, time.Duration) {}
func (nopObserver) DeadLettered(string)                                          {}
func (nopObserver) Retried(error)                                                {}
func (nopObserver) InFlight(int)                                                 {}

// Gatekeeper decides intents from the intents stream.
type Gatekeeper struct {
	js     jetstream.JetStream
	store  *store.Store
	policy atomic.Pointer[policy.Policy]
	o      Options
	cache  *prefsCache
	// replies remembers reply windows (see replyCache).
	replies *replyCache
	tracer  trace.Tracer
	// tracing is off with the no-op provider: spans then get no
	// attributes, which cost allocations even unrecorded.
	tracing bool
	// ready and inboundReady are closed once Run and RunInbound consume.
	ready, inboundReady signal
	// publishMu orders the publishes of the policy in force.
	publishMu sync.Mutex
	// solo is held for reading while a message is processed, and for
	// writing while a suspect is processed alone (see attempt).
	solo sync.RWMutex
}

// New returns a gatekeeper deciding with pol. js must have been created with
// jetstream.WithPublishAsyncTimeout so that no publish waits forever.
func New(js jetstream.JetStream, st *store.Store, pol *policy.Policy, o Options) *Gatekeeper {
	o.defaults()
	g := &Gatekeeper{js: js, store: st.WithTracing(o.TracerProvider), o: o, cache: newPrefsCache(o.PrefsCacheSize), replies: newReplyCache(o.PrefsCacheSize / 10),
		ready: newSignal(), inboundReady: newSignal()}
	g.policy.Store(pol)
	g.tracer = o.TracerProvider.Tracer("github.com/hush-oss/hush/internal/core/gatekeeper")
	_, off := o.TracerProvider.(noop.TracerProvider)
	g.tracing = !off
	return g
}

// SetPolicy replaces the policy for every decision that starts afterwards,
// and publishes it as the policy in force (see PublishPolicy).
func (g *Gatekeeper) SetPolicy(p *policy.Policy) {
	g.policy.Store(p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.PublishPolicy(ctx)
}

// PublishPolicy writes the policy in force, version and text, to the
// policies bucket (bus.PublishPolicy), where hushctl reads it. Run does so
// at start-up and SetPolicy on every change. A failure is logged: the
// gatekeeper decides all the same, and hushctl says when the version it
// needs is missing.
func (g *Gatekeeper) PublishPolicy(ctx context.Context) {
	g.publishMu.Lock()
	defer g.publishMu.Unlock()
	p := g.policy.Load()
	if p == nil {
		return
	}
	if err := bus.PublishPolicy(ctx, g.js, g.o.Subjects, p.Version, p.Source, g.o.PolicyReplicas); err != nil {
		g.o.Logger.Warn("policy in force not published", "version", p.Version, "err", err)
	}
}

// Policy returns the policy in force.
func (g *Gatekeeper) Policy() *policy.Policy { return g.policy.Load() }

// ConsumerConfig is the durable consumer every replica shares. JetStream
// never gives up on an intent (MaxDeliver -1): its deliveries also count the
// gatekeepers that died holding it, which are no fault of the intent's, so
// the gatekeeper counts what is (see attempt and retry).
func (g *Gatekeeper) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       g.o.Durable,
		Description:   "Hush gatekeeper: decides every contact intent",
		FilterSubject: g.o.Subjects.All("intent"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       g.o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: g.o.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// ReleasedConsumerConfig is the durable consumer every replica shares on
// the deferred stream: it takes deferred intents as they are released.
func (g *Gatekeeper) ReleasedConsumerConfig() jetstream.ConsumerConfig {
	c := g.ConsumerConfig()
	c.Durable = g.o.Durable + "-released"
	c.Description = "Hush gatekeeper: decides deferred intents again when released"
	c.FilterSubject = g.o.Subjects.All("released")
	return c
}

// AdvisoryConsumerConfig is the durable consumer of the MAX_DELIVERIES
// advisories of the two consumers above, which come only from consumers
// created with a bounded MaxDeliver (by an earlier version). It never gives
// up: an advisory is the last trace of an intent whose deliveries ran out.
func (g *Gatekeeper) AdvisoryConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       g.o.Durable + "-advisories",
		Description:   "Hush gatekeeper: dead-letters intents whose deliveries ran out",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       g.o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 256,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Consumers names every durable consumer a replica runs (intents, released
// deferrals, delivery advisories, inbound contacts), for metrics.
func (g *Gatekeeper) Consumers() []ConsumerRef {
	var out []ConsumerRef
	for _, c := range g.consumers() {
		out = append(out, ConsumerRef{Stream: c.stream, Consumer: c.cfg.Durable})
	}
	return out
}
