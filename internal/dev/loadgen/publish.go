package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
)

// Publisher publishes a workload's intents as a producer would: binary
// protobuf with Nats-Msg-Id = intent id, asynchronously, at a fixed rate or
// flat out.
type Publisher struct {
	JS       jetstream.JetStream
	Subjects bus.Subjects
	Gen      *Generator
	Book     *Book
	// Rate is intents per second; 0 publishes flat out.
	Rate float64
	// JSONFraction of the intents go as protojson (Content-Type
	// application/json), as producers without codegen send them.
	JSONFraction float64
	// Backlog, when set, returns how many published intents have no
	// outcome yet; flat out, publishing pauses above MaxBacklog so that
	// the run measures the system, not a queue growing without end.
	Backlog    func() int64
	MaxBacklog int64

	published atomic.Uint64
	failed    atomic.Int64
	touched   []uint64 // bitset of customer ranks
}

// Published is how many intents were handed to NATS.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Failed is how many publishes were not acknowledged (count them with
// OnAsyncError).
func (p *Publisher) Failed() int64 { return p.failed.Load() }

// OnAsyncError counts a publish JetStream did not acknowledge; pass it to
// jetstream.WithPublishAsyncErrHandler.
func (p *Publisher) OnAsyncError(jetstream.JetStream, *nats.Msg, error) { p.failed.Add(1) }

// Touched is how many distinct customers were addressed.
func (p *Publisher) Touched() int {
	n := 0
	for _, w := range p.touched {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// Run publishes until ctx ends or the book is full, then waits (up to 30s)
// for the outstanding publish acks.
func (p *Publisher) Run(ctx context.Context) error {
	p.touched = make([]uint64, p.Gen.w.Customers/64+1)
	start := time.Now()
	var err error
	for ctx.Err() == nil {
		n := int64(256)
		if p.Rate > 0 {
			due := int64(time.Since(start).Seconds()*p.Rate) - int64(p.published.Load())
			if due <= 0 {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			n = min(due, n)
		} else if p.Backlog != nil && p.Backlog() > p.MaxBacklog {
			time.Sleep(500 * time.Microsecond)
			continue
		}
		if err = p.publish(ctx, n); err != nil {
			break
		}
	}
	select {
	case <-p.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return errors.New("publish acks still outstanding after 30s")
	}
	if errors.Is(err, errBookFull) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

var errBookFull = errors.New("book full")

func (p *Publisher) publish(ctx context.Context, n int64) error {
	for range n {
		seq := p.published.Load()
		k := p.Gen.Customer()
		now := time.Now()
		it := p.Gen.Next(seq, k, now)
		m := nats.NewMsg(p.Subjects.Intent(it.GetSender().GetService(), it.GetChannel()))
		var data []byte
		var err error
		// Spread evenly: intent seq is JSON when the fraction's running
		// count steps past an integer.
		if p.JSONFraction > 0 && int64(float64(seq+1)*p.JSONFraction) > int64(float64(seq)*p.JSONFraction) {
			data, err = protojson.Marshal(it)
			m.Header.Set(bus.HeaderContentType, bus.ContentTypeJSON)
		} else {
			data, err = proto.Marshal(it)
		}
		if err != nil {
			return fmt.Errorf("encode intent: %w", err)
		}
		m.Data = data
		m.Header.Set(bus.HeaderMsgID, it.GetId())
		if !p.Book.Sent(seq, now.UnixNano()) {
			return errBookFull
		}
		for {
			_, err = p.JS.PublishMsgAsync(m)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Too many publishes awaiting acks: the server is behind.
			time.Sleep(time.Millisecond)
		}
		p.touched[k/64] |= 1 << (k % 64)
		p.published.Add(1)
	}
	return nil
}
