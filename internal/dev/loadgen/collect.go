package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
)

// Collector reads every outcome from the dispatch and suppression streams,
// as the channel senders and the suppression log's readers would, and times
// it: latency is from the moment the intent was published to the outcome's
// stored timestamp in its stream.
type Collector struct {
	book   *Book
	prefix string // "<run>-": the intent ids of this run
	// from and to bound, by stored timestamp, the outcomes that count
	// towards throughput and latency: the bench sets them around the
	// measured interval, leaving the warm-up out.
	from, to atomic.Int64

	mu        sync.Mutex
	hist      *hdrhistogram.Histogram
	inWindow  int64
	byOutcome map[string]int64
	total     atomic.Int64
	foreign   atomic.Int64
	ccs       []jetstream.ConsumeContext
}

// NewCollector returns a collector for the intents of run recorded in book.
func NewCollector(book *Book, run string) *Collector {
	c := &Collector{book: book, prefix: run + "-", byOutcome: map[string]int64{},
		hist: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)}
	c.to.Store(1<<63 - 1)
	return c
}

// Start consumes the dispatch and suppression streams of subjects from
// their beginning until Stop.
func (c *Collector) Start(ctx context.Context, js jetstream.JetStream, s bus.Subjects) error {
	for _, kind := range []string{bus.StreamDispatch, bus.StreamSuppressed} {
		cons, err := js.OrderedConsumer(ctx, s.Stream(kind), jetstream.OrderedConsumerConfig{})
		if err != nil {
			return fmt.Errorf("collect %s: %w", kind, err)
		}
		cc, err := cons.Consume(c.handle, jetstream.PullMaxMessages(1024))
		if err != nil {
			return fmt.Errorf("collect %s: %w", kind, err)
		}
		c.ccs = append(c.ccs, cc)
	}
	return nil
}

// Stop stops consuming.
func (c *Collector) Stop() {
	for _, cc := range c.ccs {
		cc.Stop()
	}
}

func (c *Collector) handle(m jetstream.Msg) {
	c.total.Add(1)
	seq, ok := SeqOf(m.Headers().Get(nats.MsgIdHdr), c.prefix)
	if !ok {
		c.foreign.Add(1)
		return
	}
	sent, _ := c.book.Outcome(seq)
	md, err := m.Metadata()
	if err != nil || sent == 0 {
		return
	}
	ts := md.Timestamp.UnixNano()
	if ts < c.from.Load() || ts >= c.to.Load() {
		return
	}
	outcome := m.Headers().Get(bus.HeaderOutcome)
	c.mu.Lock()
	c.hist.RecordValue(max((ts-sent)/1000, 1))
	c.inWindow++
	c.byOutcome[outcome]++
	c.mu.Unlock()
}

// SeqOf returns the publisher's sequence number from an outcome's
// Nats-Msg-Id: "<prefix><seq>" on dispatches and suppressions, and
// "<prefix><seq>/deferred/<release ms>" on the log entry of a deferral (at
// night in the customers' zones the default policy defers most intents; a
// deferral is their decision).
func SeqOf(msgID, prefix string) (uint64, bool) {
	rest, ok := strings.CutPrefix(msgID, prefix)
	if !ok {
		return 0, false
	}
	rest, _, _ = strings.Cut(rest, "/")
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil
}

// Seen is how many outcomes of any run have been read.
func (c *Collector) Seen() int64 { return c.total.Load() }

// Latency summarises end-to-end latency in the window.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summary returns the latency and the outcome counts in the window.
func (c *Collector) Summary() (Latency, map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	l := Latency{
		Count: c.inWindow,
		P50:   ms(c.hist.ValueAtQuantile(50)),
		P95:   ms(c.hist.ValueAtQuantile(95)),
		P99:   ms(c.hist.ValueAtQuantile(99)),
		P999:  ms(c.hist.ValueAtQuantile(99.9)),
		Max:   ms(c.hist.Max()),
		Mean:  c.hist.Mean() / 1000,
	}
	out := make(map[string]int64, len(c.byOutcome))
	for k, v := range c.byOutcome {
		out[k] = v
	}
	return l, out
}
