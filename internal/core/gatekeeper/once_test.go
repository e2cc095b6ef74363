package gatekeeper_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// recorder is an Observer that remembers every decision it is told about,
// and whether it was a replay of a recorded one.
type recorder struct {
	mu      sync.Mutex
	decided []recorded
}

type recorded struct {
	d        *hushv1.Decision
	replayed bool
}

func (r *recorder) Decided(d *hushv1.Decision, replayed bool, _, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decided = append(r.decided, recorded{proto.CloneOf(d), replayed})
}
func (r *recorder) DeadLettered(string) {}
func (r *recorder) Retried(error)       {}
func (r *recorder) InFlight(int)        {}

// decisions returns how many fresh and replayed decisions were reported.
func (r *recorder) decisions() (fresh, replayed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.decided {
		if d.replayed {
			replayed++
		} else {
			fresh++
		}
	}
	return fresh, replayed
}

// assertRecordedOnce checks that the decision recorded for an intent is the
// one the first delivery made: a later delivery that decided afresh would
// have recorded a decision with a later decided_at.
func assertRecordedOnce(t *testing.T, h *harness, customer, intentID string, first *hushv1.Decision) {
	t.Helper()
	d, err := h.store.Decision(context.Background(), customer, intentID)
	if err != nil || d == nil {
		t.Fatalf("decision of %s: %v, %v", intentID, d, err)
	}
	if !d.GetDecidedAt().AsTime().Equal(first.GetDecidedAt().AsTime()) {
		t.Fatalf("decision of %s recorded at %s, then again at %s: decided twice", intentID,
			first.GetDecidedAt().AsTime(), d.GetDecidedAt().AsTime())
	}
}

// TestOneDispatchAfterTheDuplicateWindow: a producer republishes an intent
// id after JetStream's duplicate window has passed but while its decision is
// retained. The recorded approval must not yield a second dispatch.
func TestOneDispatchAfterTheDuplicateWindow(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	so := bus.DefaultStreamOptions()
	so.DuplicateWindow = time.Second
	if err := h.subjects.EnsureStreams(ctx, h.js, so); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h.startGatekeeper(gatekeeper.Options{Observer: rec})

	it := intent("late-1", "c-1", "email", "marketing")
	publishWithID := func() *jetstream.PubAck {
		t.Helper()
		m := nats.NewMsg(h.subjects.Intent("campaigns", "email"))
		m.Data = mustMarshal(t, it)
		m.Header.Set(nats.MsgIdHdr, it.GetId())
		ack, err := h.js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	publishWithID()
	dispatched, _, _ := h.outcomes(1)
	if len(dispatched) != 1 {
		t.Fatalf("dispatched %d, want 1", len(dispatched))
	}
	md, err := dispatched[0].Metadata()
	if err != nil {
		t.Fatal(err)
	}
	first, err := h.store.Decision(ctx, "c-1", "late-1")
	if err != nil || first == nil {
		t.Fatalf("decision: %v, %v", first, err)
	}
	// The republish is stored as a new message once the intents stream
	// has forgotten the id: that is the window passing. JetStream forgets
	// ids in periodic sweeps, so the dispatch stream, which stored the
	// dispatch a little later, is given three windows to forget it too.
	waitFor(t, 30*time.Second, "the duplicate window to pass", func() bool {
		return time.Since(md.Timestamp) > 3*so.DuplicateWindow && !publishWithID().Duplicate
	})
	waitAcked(t, h, 2)

	dispatched, suppressed, dead := h.outcomes(1)
	if len(dispatched) != 1 || len(suppressed)+len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead %d; want exactly one dispatch for one intent id", len(dispatched), len(suppressed), len(dead))
	}
	if fresh, replayed := rec.decisions(); fresh != 1 || replayed < 1 {
		t.Fatalf("%d fresh and %d replayed decisions; want the republish to replay the one decision", fresh, replayed)
	}
	assertRecordedOnce(t, h, "c-1", "late-1", first)
	assertLedger(t, h, "c-1", 1)
}
