package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Tally counts outcomes as they appear on the streams: an independent view
// of what the gatekeeper did, read the way a channel sender or an auditor
// would.
type Tally struct {
	mu         sync.Mutex
	dispatched int
	dead       int
	suppressed map[string]int // by reason
}

// NewTally returns an empty tally.
func NewTally() *Tally { return &Tally{suppressed: map[string]int{}} }

// Follow reads the dispatch, suppression and dead-letter streams from the
// start until ctx ends.
func (t *Tally) Follow(ctx context.Context, js jetstream.JetStream, s bus.Subjects) error {
	for _, kind := range []string{bus.StreamDispatch, bus.StreamSuppressed, bus.StreamDeadLetter} {
		c, err := js.OrderedConsumer(ctx, s.Stream(kind), jetstream.OrderedConsumerConfig{})
		if err != nil {
			return fmt.Errorf("follow %s: %w", s.Stream(kind), err)
		}
		cc, err := c.Consume(func(m jetstream.Msg) { t.add(kind, m) })
		if err != nil {
			return fmt.Errorf("follow %s: %w", s.Stream(kind), err)
		}
		context.AfterFunc(ctx, cc.Stop)
	}
	return nil
}

func (t *Tally) add(kind string, m jetstream.Msg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch kind {
	case bus.StreamDispatch:
		t.dispatched++
	case bus.StreamDeadLetter:
		t.dead++
	case bus.StreamSuppressed:
		rec := new(hushv1.SuppressionRecord)
		reason := "unknown"
		if proto.Unmarshal(m.Data(), rec) == nil && len(rec.GetDecision().GetReasons()) > 0 {
			reason = policy.ShortCode(rec.GetDecision().GetReasons()[0].GetCode())
		}
		t.suppressed[reason]++
	}
}

// Counts returns dispatched, suppressed (total) and dead-lettered.
func (t *Tally) Counts() (dispatched, suppressed, dead int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.suppressed {
		suppressed += n
	}
	return t.dispatched, suppressed, t.dead
}

// String is one line: "dispatched 120 | suppressed 60 (do_nothing 21,
// frequency_cap 30, opted_out 9) | dead-lettered 3".
func (t *Tally) String() string {
	d, s, dl := t.Counts()
	t.mu.Lock()
	defer t.mu.Unlock()
	var reasons []string
	for _, r := range slices.Sorted(maps.Keys(t.suppressed)) {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, t.suppressed[r]))
	}
	by := ""
	if len(reasons) > 0 {
		by = " (" + strings.Join(reasons, ", ") + ")"
	}
	return fmt.Sprintf("dispatched %d | suppressed %d%s | dead-lettered %d", d, s, by, dl)
}
