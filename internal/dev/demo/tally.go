package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Tally counts outcomes as they appear on the streams: an independent view
// of what the gatekeeper did, read the way a channel sender or an auditor
// would. A deferral is not a suppression: it is counted as deferred while
// its intent waits, and its release is counted once, under its final
// outcome.
type Tally struct {
	mu         sync.Mutex
	dispatched int
	dead       int
	suppressed map[string]int // by reason
	// waiting are the deferred intents not yet decided for good; final
	// are the intents decided for good (the three streams are read
	// independently, so a release may be read before its deferral).
	waiting, final map[string]bool
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{suppressed: map[string]int{}, waiting: map[string]bool{}, final: map[string]bool{}}
}

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
		t.decided(m.Headers().Get(bus.HeaderMsgID))
	case bus.StreamDeadLetter:
		t.dead++
	case bus.StreamSuppressed:
		rec := new(hushv1.SuppressionRecord)
		if err := bus.Decode(m.Data(), m.Headers(), rec); err != nil {
			t.suppressed["unknown"]++
			return
		}
		d := rec.GetDecision()
		if d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
			if !t.final[d.GetIntentId()] {
				t.waiting[d.GetIntentId()] = true
			}
			return
		}
		reason := "unknown"
		if len(d.GetReasons()) > 0 {
			reason = policy.ShortCode(d.GetReasons()[0].GetCode())
		}
		t.suppressed[reason]++
		t.decided(d.GetIntentId())
	}
}

// decided notes an intent's final outcome: it no longer waits.
func (t *Tally) decided(id string) {
	if id == "" {
		return
	}
	delete(t.waiting, id)
	t.final[id] = true
}

// Counts returns dispatched, suppressed (total), deferred (still waiting
// for their release) and dead-lettered.
func (t *Tally) Counts() (dispatched, suppressed, deferred, dead int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.suppressed {
		suppressed += n
	}
	return t.dispatched, suppressed, len(t.waiting), t.dead
}

// String is one line: "dispatched 120 | suppressed 60 (do_nothing 21,
// frequency_cap 30, opted_out 9) | deferred 4 | dead-lettered 3".
func (t *Tally) String() string {
	d, s, df, dl := t.Counts()
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
	return fmt.Sprintf("dispatched %d | suppressed %d%s | deferred %d | dead-lettered %d", d, s, by, df, dl)
}
