// Package gatekeeper is the consumer every contact intent passes through: it
// decodes and validates each intent, decides it with the policy and the
// store, publishes the outcome (dispatch, suppression log or dead letter) and
// acknowledges the intent only once that outcome is durably published.
package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	// AckWait is how long JetStream waits before redelivering (30s).
	AckWait time.Duration
	// MaxDeliver is the number of attempts before an intent is
	// dead-lettered with its last error (10).
	MaxDeliver int
	// ReleaseSlack tolerates clock skew between the JetStream server that
	// releases a deferral and this replica (2s).
	ReleaseSlack time.Duration
	// RetryBase and RetryMax bound the jittered exponential delay of a
	// retry after a transient failure (250ms, 30s).
	RetryBase, RetryMax time.Duration
	// PrefsCacheSize bounds the preferences cache, in customers (100000).
	PrefsCacheSize int
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
	def(&o.PrefsCacheSize, 100_000)
	defDur(&o.AckWait, 30*time.Second)
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
	// Decided is called once a decision's outcome is published.
	Decided(d *hushv1.Decision, replayed bool, took time.Duration)
	// DeadLettered is called once a dead letter is published.
	DeadLettered(stage string)
	// Retried is called when an intent is handed back for redelivery.
	Retried(err error)
	// InFlight is called with +1 when a worker takes an intent and -1 when
	// it is done with it.
	InFlight(delta int)
}

type nopObserver struct{}

func (nopObserver) Decided(*hushv1.Decision, bool, time.Duration) {}
func (nopObserver) DeadLettered(string)                           {}
func (nopObserver) Retried(error)                                 {}
func (nopObserver) InFlight(int)                                  {}

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
}

// New returns a gatekeeper deciding with pol. js must have been created with
// jetstream.WithPublishAsyncTimeout so that no publish waits forever.
func New(js jetstream.JetStream, st *store.Store, pol *policy.Policy, o Options) *Gatekeeper {
	o.defaults()
	g := &Gatekeeper{js: js, store: st, o: o, cache: newPrefsCache(o.PrefsCacheSize), replies: newReplyCache(o.PrefsCacheSize / 10)}
	g.policy.Store(pol)
	g.tracer = o.TracerProvider.Tracer("github.com/hush-oss/hush/internal/core/gatekeeper")
	return g
}

// SetPolicy replaces the policy for every decision that starts afterwards.
func (g *Gatekeeper) SetPolicy(p *policy.Policy) { g.policy.Store(p) }

// Policy returns the policy in force.
func (g *Gatekeeper) Policy() *policy.Policy { return g.policy.Load() }

// ConsumerConfig is the durable consumer every replica shares.
func (g *Gatekeeper) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       g.o.Durable,
		Description:   "Hush gatekeeper: decides every contact intent",
		FilterSubject: g.o.Subjects.All("intent"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       g.o.AckWait,
		MaxDeliver:    g.o.MaxDeliver,
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
// advisories of the two consumers above. It never gives up: an advisory is
// the last trace of an intent whose deliveries ran out.
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

// pending is an outcome being published; the intent is settled when its
// publishes are acknowledged.
type pending struct {
	futs   []jetstream.PubAckFuture
	msg    jetstream.Msg
	settle func(err error)
}

// wait returns the first publish error, or nil once every publish is
// acknowledged.
func (p pending) wait() error {
	var first error
	for _, f := range p.futs {
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

// Run consumes intents, and deferred intents as they are released, until
// ctx is done; then it stops fetching, finishes the intents in hand, waits
// for their publishes and returns. Work in hand is bounded whatever the
// backlog: each consumer prefetches at most 2×Workers messages, the workers
// take them one at a time, and at most MaxAckPending publishes are awaited.
func (g *Gatekeeper) Run(ctx context.Context) error {
	type source struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}
	sources := []source{
		{g.o.Subjects.Stream(bus.StreamIntents), g.ConsumerConfig()},
		{g.o.Subjects.Stream(bus.StreamDeferred), g.ReleasedConsumerConfig()},
	}
	var consumers []jetstream.Consumer
	for _, src := range append(sources, source{g.o.Subjects.Stream(bus.StreamAdvisories), g.AdvisoryConsumerConfig()}) {
		cons, err := g.consumer(ctx, src.stream, src.cfg)
		if err != nil {
			return err
		}
		consumers = append(consumers, cons)
	}

	// Work in hand is finished even after ctx ends: shutting down must not
	// turn decided intents into redeliveries.
	work := context.WithoutCancel(ctx)
	jobs := make(chan jetstream.Msg, g.o.Workers)
	inflight := make(chan pending, g.o.MaxAckPending)

	var workers sync.WaitGroup
	for range g.o.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for m := range jobs {
				g.handle(work, m, inflight)
			}
		}()
	}
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for p := range inflight {
			g.settle(p)
		}
	}()

	var running []jetstream.ConsumeContext
	stop := func() {
		for _, cc := range running {
			cc.Drain()
		}
		for _, cc := range running {
			<-cc.Closed()
		}
		close(jobs)
		workers.Wait()
		close(inflight)
		<-settled
	}
	errHandler := jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		g.o.Logger.Warn("consume", "err", err)
	})
	for i, cons := range consumers {
		handler := func(m jetstream.Msg) { jobs <- m }
		batch := 2 * g.o.Workers
		if i == len(consumers)-1 {
			handler = func(m jetstream.Msg) { g.handleExhausted(work, m, inflight) }
			batch = 16
		}
		// A pull that finds no consumer leader (a consumer just created on
		// a cluster, a server lost) is re-issued only when heartbeats are
		// missed: short pulls bring a replica back within seconds rather
		// than the default 30s.
		cc, err := cons.Consume(handler, jetstream.PullMaxMessages(batch), jetstream.PullExpiry(5*time.Second), errHandler)
		if err != nil {
			stop()
			return fmt.Errorf("consume %s: %w", cons.CachedInfo().Stream, err)
		}
		running = append(running, cc)
	}
	g.o.Logger.Info("gatekeeper consuming", "stream", sources[0].stream, "consumer", g.o.Durable, "workers", g.o.Workers)

	<-ctx.Done()
	stop()
	g.o.Logger.Info("gatekeeper drained")
	return nil
}

// settle waits for an outcome's publishes and settles its intent. A panic
// here (in an observer, say) is contained: the intent is redelivered and
// replayed (and, should it panic on every delivery, dead-lettered through
// its MAX_DELIVERIES advisory).
func (g *Gatekeeper) settle(p pending) {
	defer func() {
		if r := recover(); r != nil {
			g.o.Logger.Error("panic while settling an intent", "subject", p.msg.Subject(), "panic", fmt.Sprint(r))
		}
	}()
	p.settle(p.wait())
}

// consumer creates or updates the shared durable consumer. Each attempt has
// its own deadline and a failed one is retried: on a NATS cluster a request
// can go unanswered while a server is lost, which must not leave a replica
// waiting forever.
func (g *Gatekeeper) consumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := g.js.CreateOrUpdateConsumer(actx, stream, cfg)
		cancel()
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil || attempt == 5 {
			return nil, fmt.Errorf("consumer %s on %s: %w", cfg.Durable, stream, err)
		}
		g.o.Logger.Warn("consumer not created; retrying", "consumer", cfg.Durable, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// handle takes one intent to a published outcome, or hands it back.
func (g *Gatekeeper) handle(ctx context.Context, m jetstream.Msg, inflight chan<- pending) {
	// First of all: a panic anywhere below, even in a propagator, costs
	// this message only.
	defer func() {
		if r := recover(); r != nil {
			g.deadLetter(ctx, m, "panic", fmt.Errorf("panic: %v", r))
		}
	}()
	start := g.o.Now()
	ctx = g.o.Propagator.Extract(ctx, bus.HeaderCarrier(m.Headers()))
	ctx, span := g.tracer.Start(ctx, "hush.intent process", trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()

	channel := g.o.Subjects.Channel(m.Subject())
	g.o.Observer.InFlight(1)
	defer g.o.Observer.InFlight(-1)
	span.SetAttributes(consumeAttributes(m, g.o.Durable)...)
	it, err := bus.DecodeIntent(m.Data(), m.Headers())
	if err != nil {
		g.deadLetter(ctx, m, "decode", err)
		return
	}
	pol := g.policy.Load()
	if err := pol.Validate(it, channel); err != nil {
		g.deadLetter(ctx, m, "validate", err)
		return
	}
	if g.o.Subjects.IsReleased(m.Subject()) {
		// A deferral's release time has come: forget the deferral so that
		// the intent is decided again, with today's preferences and clock.
		if _, err := g.store.Reopen(ctx, it.GetCustomerId(), it.GetId(), g.o.Now(), g.o.ReleaseSlack); err != nil {
			g.retry(m, err)
			return
		}
	}
	d, replayed, err := g.decide(ctx, pol, it)
	describeDecision(span, d, replayed, err)
	if err != nil {
		g.retry(m, err)
		return
	}
	if d.GetOutcome() == hushv1.Outcome_OUTCOME_INVALID {
		// Its deliveries ran out while this one was late: it is being
		// dead-lettered (see handleExhausted); say so once more.
		g.deadLetter(ctx, m, "max_deliver", errors.New(exhaustedMessage(d)))
		return
	}
	if err := g.publishOutcome(ctx, m, it, d, replayed, start, inflight); err != nil {
		g.retry(m, err)
	}
}

// decide evaluates the rules and records the decision. When the store says
// the preferences (or the reply window the intent answers) changed, it
// evaluates again with the fresh ones. An unsolicited agent contact also
// reserves a unit of the agent's budget first (see agentBudget).
func (g *Gatekeeper) decide(ctx context.Context, pol *policy.Policy, it *hushv1.ContactIntent) (*hushv1.Decision, bool, error) {
	ctx, span := g.tracer.Start(ctx, "hush.decide", trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	prefs, version := g.cache.get(it.GetCustomerId())
	replyUntil := g.replies.get(it.GetCustomerId(), it.GetInReplyTo())
	budget := agentBudget{g: g, intent: it.GetId()}
	for range 3 {
		now := g.o.Now()
		v := pol.Evaluate(policy.Input{Intent: it, Prefs: prefs, Now: now, ReplyUntil: replyUntil})
		if err := budget.reserve(ctx, &v, now); err != nil {
			return nil, false, err
		}
		res, err := g.store.Decide(ctx, store.DecideRequest{
			Intent:            it,
			PrefsVersion:      version,
			Now:               now,
			Verdict:           &v,
			Decision:          newDecision(pol, it, &v, now, traceID),
			DecisionRetention: pol.DecisionRetention,
			LedgerRetention:   pol.LedgerRetention,
			ReplyUntil:        replyUntil,
		})
		if err != nil {
			budget.release(ctx)
			return nil, false, err
		}
		if !res.Stale {
			if err := budget.settle(ctx, res.Decision); err != nil {
				return nil, false, err
			}
			return res.Decision, res.Replayed, nil
		}
		prefs, version, replyUntil = res.Prefs, res.PrefsVersion, res.ReplyUntil
		g.cache.put(it.GetCustomerId(), prefs, version)
		g.replies.put(it.GetCustomerId(), it.GetInReplyTo(), replyUntil)
	}
	budget.release(ctx)
	return nil, false, errors.New("preferences kept changing during the decision")
}

func newDecision(pol *policy.Policy, it *hushv1.ContactIntent, v *policy.Verdict, now time.Time, traceID string) *hushv1.Decision {
	d := &hushv1.Decision{
		IntentId:      it.GetId(),
		CustomerId:    it.GetCustomerId(),
		Channel:       it.GetChannel(),
		Category:      it.GetCategory(),
		Outcome:       v.Outcome,
		PolicyVersion: pol.Version,
		DecidedAt:     timestamppb.New(now),
		TraceId:       traceID,
	}
	if !v.Approved() {
		d.Reasons = []*hushv1.Reason{v.Reason.Proto()}
	}
	for _, r := range v.Shadow {
		d.ShadowReasons = append(d.ShadowReasons, r.Proto())
	}
	if !v.ReleaseAt.IsZero() {
		d.ReleaseAt = timestamppb.New(v.ReleaseAt)
	}
	return d
}

// exhaust settles an intent whose last delivery failed. It is dead-lettered
// with its last error only if it can be claimed as such; a decision already
// recorded (decided, but its outcome's publish failed) must be published,
// never dead-lettered beside it, so the intent is handed back and its
// MAX_DELIVERIES advisory republishes the recorded outcome.
func (g *Gatekeeper) exhaust(m jetstream.Msg, delivered uint64, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if it, err := bus.DecodeIntent(m.Data(), m.Headers()); err == nil && it.GetCustomerId() != "" && it.GetId() != "" {
		d, err := g.claimExhausted(ctx, it, cause, g.o.Now())
		if err != nil || d != nil && d.GetOutcome() != hushv1.Outcome_OUTCOME_INVALID {
			g.o.Logger.Warn("intent exhausted its deliveries with a decision to publish; left to its advisory",
				"subject", m.Subject(), "deliveries", delivered, "err", cause, "claim_err", err)
			m.NakWithDelay(g.o.RetryBase)
			return
		}
	}
	g.o.Logger.Error("intent exhausted its deliveries", "subject", m.Subject(), "deliveries", delivered, "err", cause)
	g.deadLetter(ctx, m, "max_deliver", cause)
}

// retry hands an intent back after a transient failure, with a jittered
// exponential delay; on its last delivery it is dead-lettered instead, with
// the error, so that nothing is dropped silently.
func (g *Gatekeeper) retry(m jetstream.Msg, cause error) {
	g.o.Observer.Retried(cause)
	if _, ok := m.(*exhaustedMsg); ok {
		m.NakWithDelay(g.o.RetryMax) // the advisory comes back
		return
	}
	delivered := uint64(1)
	if md, err := m.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	if delivered >= uint64(g.o.MaxDeliver) {
		g.exhaust(m, delivered, cause)
		return
	}
	delay := g.o.RetryBase << min(delivered-1, 16)
	delay = min(delay, g.o.RetryMax)
	delay = delay/2 + rand.N(delay/2+1)
	g.o.Logger.Warn("intent retried", "subject", m.Subject(), "deliveries", delivered, "delay", delay, "err", cause)
	m.NakWithDelay(delay)
}
