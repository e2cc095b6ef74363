package gatekeeper

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
)

// consumer is one durable consumer the gatekeeper runs. Every consumer is an
// entry in the table consumers returns, and every entry is consumed the same
// way: its durable is created with retries, pulled with the same expiry, its
// deliveries processed under the same deadline and settled by settle.
type consumer struct {
	stream string
	cfg    jetstream.ConsumerConfig
	// inbound entries are run by RunInbound, the others by Run.
	inbound bool
	// batch bounds the messages a pull prefetches.
	batch int
	// inline entries are processed in the consume callback rather than
	// by the workers: they are few and must not queue behind intents.
	inline bool
	// exhausts: a delivery that fails its MaxDeliver-th attempt is settled
	// for good (see exhaust); otherwise it is handed back forever.
	exhausts bool
	// claims: an exhausted delivery is an intent, claimed before it is
	// dead-lettered so that it is never both dead-lettered and dispatched.
	claims bool
	// span names the CONSUMER span of a delivery; "" for none.
	span string
	// process takes a delivery to its result; settle does the rest.
	process func(ctx context.Context, d *delivery) result
}

// consumers is the table of every consumer the gatekeeper runs.
func (g *Gatekeeper) consumers() []*consumer {
	s := g.o.Subjects
	return []*consumer{
		{stream: s.Stream(bus.StreamIntents), cfg: g.ConsumerConfig(), batch: 2 * g.o.Workers,
			span: "hush.intent process", exhausts: true, claims: true, process: g.handle},
		{stream: s.Stream(bus.StreamDeferred), cfg: g.ReleasedConsumerConfig(), batch: 2 * g.o.Workers,
			span: "hush.intent process", exhausts: true, claims: true, process: g.handle},
		{stream: s.Stream(bus.StreamAdvisories), cfg: g.AdvisoryConsumerConfig(), batch: 16, inline: true,
			process: g.handleAdvisory},
		{stream: s.Stream(bus.StreamInbound), cfg: g.InboundConsumerConfig(), batch: 64, inline: true, inbound: true,
			span: "hush.inbound process", exhausts: true, process: g.handleInbound},
	}
}

// pullExpiry is short: a pull that finds no consumer leader (a consumer just
// created on a cluster, a server lost) is re-issued only when heartbeats are
// missed, and short pulls bring a replica back within seconds rather than
// the default 30s.
const pullExpiry = 5 * time.Second

// signal is closed once, when something has happened.
type signal struct {
	once *sync.Once
	c    chan struct{}
}

func newSignal() signal { return signal{once: new(sync.Once), c: make(chan struct{})} }

func (s signal) fire() { s.once.Do(func() { close(s.c) }) }

// Ready is closed once Run consumes every one of its consumers: intents,
// released deferrals and delivery advisories.
func (g *Gatekeeper) Ready() <-chan struct{} { return g.ready.c }

// InboundReady is closed once RunInbound consumes inbound contacts.
func (g *Gatekeeper) InboundReady() <-chan struct{} { return g.inboundReady.c }

// Run consumes intents, and deferred intents as they are released, until
// ctx is done; then it stops fetching, finishes the intents in hand, waits
// for their publishes and returns. Work in hand is bounded whatever the
// backlog: each consumer prefetches at most 2×Workers messages, the workers
// take them one at a time, and at most MaxAckPending publishes are awaited.
func (g *Gatekeeper) Run(ctx context.Context) error {
	return g.run(ctx, false, g.ready)
}

// RunInbound consumes customers' inbound contacts until ctx is done, then
// drains: every replica runs it next to Run, on the same durable consumer.
func (g *Gatekeeper) RunInbound(ctx context.Context) error {
	return g.run(ctx, true, g.inboundReady)
}

// job is a delivery on its way: to a worker, or, processed, to the settler
// that waits for its publishes.
type job struct {
	c   *consumer
	d   *delivery
	res result
}

// run consumes the entries of the table that are (or are not) inbound until
// ctx is done, then drains them.
func (g *Gatekeeper) run(ctx context.Context, inbound bool, ready signal) error {
	if !inbound {
		g.PublishPolicy(ctx)
	}
	var table []*consumer
	var created []jetstream.Consumer
	for _, c := range g.consumers() {
		if c.inbound != inbound {
			continue
		}
		cons, err := g.consumer(ctx, c.stream, c.cfg)
		if err != nil {
			return err
		}
		table, created = append(table, c), append(created, cons)
	}

	// Work in hand is finished even after ctx ends: shutting down must not
	// turn decided intents into redeliveries.
	work := context.WithoutCancel(ctx)
	jobs := make(chan job, g.o.Workers)
	inflight := make(chan job, g.o.MaxAckPending)

	var workers sync.WaitGroup
	for range g.o.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				g.deliver(work, j.c, j.d, nil, inflight)
			}
		}()
	}
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for j := range inflight {
			g.deliver(work, j.c, j.d, &j.res, nil)
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
	for i, c := range table {
		handler := func(m jetstream.Msg) { jobs <- job{c: c, d: g.receive(m)} }
		if c.inline {
			handler = func(m jetstream.Msg) { g.deliver(work, c, g.receive(m), nil, inflight) }
		}
		cc, err := created[i].Consume(handler, jetstream.PullMaxMessages(c.batch), jetstream.PullExpiry(pullExpiry), errHandler)
		if err != nil {
			stop()
			return fmt.Errorf("consume %s: %w", c.stream, err)
		}
		running = append(running, cc)
	}
	if inbound {
		g.o.Logger.Info("gatekeeper consuming inbound contacts", "stream", table[0].stream, "consumer", table[0].cfg.Durable)
	} else {
		g.o.Logger.Info("gatekeeper consuming", "stream", table[0].stream, "consumer", g.o.Durable, "workers", g.o.Workers)
	}
	ready.fire()

	<-ctx.Done()
	stop()
	if !inbound {
		g.o.Logger.Info("gatekeeper drained")
	}
	return nil
}

// consumer creates or updates a shared durable consumer. Each attempt has
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
