package loadgen

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
)

// Relay is the pass-through reference point: it consumes intents with the
// gatekeeper's consumer settings and pipeline (workers, asynchronous
// publish, ack on the publish ack), and publishes each one unchanged to
// dispatch with Nats-Msg-Id, deciding nothing. Hush cannot be faster than
// this on the same NATS; the ratio says what deciding costs.
type Relay struct {
	JS      jetstream.JetStream
	Options gatekeeper.Options
}

// Run relays until ctx is done, then drains like the gatekeeper.
func (r *Relay) Run(ctx context.Context) error {
	o := r.Options
	// The gatekeeper's own consumer configuration, defaults included.
	cfg := gatekeeper.New(r.JS, nil, nil, o).ConsumerConfig()
	workers := o.Workers
	if workers <= 0 {
		workers = 64
	}
	stream := o.Subjects.Stream(bus.StreamIntents)
	cons, err := r.JS.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("relay consumer on %s: %w", stream, err)
	}
	type pending struct {
		fut jetstream.PubAckFuture
		msg jetstream.Msg
	}
	jobs := make(chan jetstream.Msg, workers)
	inflight := make(chan pending, cfg.MaxAckPending)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				_, channel, _ := o.Subjects.IntentSource(m.Subject())
				out := nats.NewMsg(o.Subjects.Dispatch(channel))
				out.Data = m.Data()
				out.Header.Set(bus.HeaderMsgID, m.Headers().Get(bus.HeaderMsgID))
				out.Header.Set(bus.HeaderOutcome, "approved")
				fut, err := r.JS.PublishMsgAsync(out)
				if err != nil {
					m.Nak()
					continue
				}
				inflight <- pending{fut, m}
			}
		}()
	}
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for p := range inflight {
			select {
			case <-p.fut.Ok():
				p.msg.Ack()
			case <-p.fut.Err():
				p.msg.Nak()
			}
		}
	}()
	cc, err := cons.Consume(func(m jetstream.Msg) { jobs <- m }, jetstream.PullMaxMessages(2*workers), jetstream.PullExpiry(5*time.Second))
	if err == nil {
		<-ctx.Done()
		cc.Drain()
		<-cc.Closed()
	}
	close(jobs)
	wg.Wait()
	close(inflight)
	<-settled
	if err != nil {
		return fmt.Errorf("relay consume %s: %w", stream, err)
	}
	return nil
}
