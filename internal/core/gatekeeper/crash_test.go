package gatekeeper_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/store"
)

// dyingGatekeeper stands in for gatekeeper processes that die holding an
// intent: it takes each delivery and never settles it. When processing is
// set it records a start first, as a real gatekeeper does on a
// redelivery, so the death happens while the intent is processed; without
// it the intent died unstarted in a prefetch buffer.
type dyingGatekeeper struct {
	t    *testing.T
	h    *harness
	cons jetstream.Consumer
}

func newDyingGatekeeper(t *testing.T, h *harness, cfg jetstream.ConsumerConfig) *dyingGatekeeper {
	t.Helper()
	cons, err := h.js.CreateOrUpdateConsumer(context.Background(), h.subjects.Stream(bus.StreamIntents), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &dyingGatekeeper{t: t, h: h, cons: cons}
}

// die takes the next delivery of the one intent in the stream and dies
// with it; it returns the delivery count.
func (g *dyingGatekeeper) die(processing bool) uint64 {
	g.t.Helper()
	batch, err := g.cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		g.t.Fatal(err)
	}
	m, ok := <-batch.Messages()
	if !ok {
		g.t.Fatal("no delivery within 10s")
	}
	md, err := m.Metadata()
	if err != nil {
		g.t.Fatal(err)
	}
	if processing && md.NumDelivered > 1 {
		if _, _, err := g.h.store.MarkAttempt(context.Background(), md.Stream, md.Sequence.Stream, store.MarkBegin, time.Hour); err != nil {
			g.t.Fatal(err)
		}
	}
	return md.NumDelivered
}

// TestAnIntentWhoseGatekeepersDiedIsDecidedHoweverOftenItWasDelivered: an
// intent outlives many more gatekeepers than MaxDeliver, most of them
// before they started it, two while they processed it beside others; it is
// a valid intent, and it is decided, never dead-lettered.
func TestAnIntentWhoseGatekeepersDiedIsDecidedHoweverOftenItWasDelivered(t *testing.T) {
	h := newHarness(t)
	o := gatekeeper.Options{MaxDeliver: 2, AckWait: 300 * time.Millisecond}
	o.Subjects = h.subjects
	dying := newDyingGatekeeper(t, h, gatekeeper.New(h.js, h.store, h.pol, o).ConsumerConfig())
	h.publish(intent("victim", "c-1", "email", "marketing"))
	for _, processing := range []bool{false, false, true, false, false} {
		dying.die(processing)
	}
	h.startGatekeeper(o)
	waitFor(t, 30*time.Second, "the victim settled", func() bool {
		out, _ := h.terminal()
		return len(out["victim"]) > 0
	})
	time.Sleep(300 * time.Millisecond) // anything more would be a second outcome
	out, _ := h.terminal()
	if got := out["victim"]; len(got) != 1 || got[0] != "dispatched" {
		t.Errorf("victim: %v; want dispatched once, after 5 deliveries that died with MaxDeliver 2", got)
	}
}

// TestAnIntentThatKeepsKillingItsGatekeeperIsDeadLetteredAsTheCause: the
// gatekeepers die every time they process the intent, beside others and
// then alone; after MaxCrashes deaths alone it is dead-lettered at stage
// "crash" and nothing is dispatched.
func TestAnIntentThatKeepsKillingItsGatekeeperIsDeadLetteredAsTheCause(t *testing.T) {
	h := newHarness(t)
	o := gatekeeper.Options{MaxDeliver: 10, MaxCrashes: 2, AckWait: 300 * time.Millisecond}
	o.Subjects = h.subjects
	dying := newDyingGatekeeper(t, h, gatekeeper.New(h.js, h.store, h.pol, o).ConsumerConfig())
	h.publish(intent("poison", "c-1", "email", "marketing"))
	// The first death is unrecorded (first deliveries are not counted),
	// the second blames it with others, the next two alone.
	for range 4 {
		dying.die(true)
	}
	h.startGatekeeper(o)
	waitFor(t, 30*time.Second, "the poison settled", func() bool {
		out, _ := h.terminal()
		return len(out["poison"]) > 0
	})
	time.Sleep(300 * time.Millisecond)
	out, _ := h.terminal()
	if got := out["poison"]; len(got) != 1 || got[0] != "dead:crash" {
		t.Fatalf("poison: %v; want one dead letter at stage crash", got)
	}
	_, _, dead := h.outcomes(1)
	if dl := deadLetter(t, dead[0]); !strings.Contains(dl.GetError(), "stopped 2 times while processing it alone") {
		t.Errorf("dead letter error %q; want the solo crashes named", dl.GetError())
	}
}

// TestAttemptsTellSharedFromSoloCrashes pins the record the two tests
// above rely on.
func TestAttemptsTellSharedFromSoloCrashes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	mark := func(m store.AttemptMark) (store.Attempts, bool) {
		a, solo, err := h.store.MarkAttempt(ctx, "S", 7, m, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return a, solo
	}
	if _, solo := mark(store.MarkBegin); solo {
		t.Error("a first start was solo")
	}
	mark(store.MarkFinish)
	if _, solo := mark(store.MarkBegin); solo {
		t.Error("a start after a finished one was solo")
	}
	// That start never finished: the next is solo.
	a, solo := mark(store.MarkBegin)
	if !solo || a.Crashed() != 1 || a.SoloCrashed() != 0 {
		t.Errorf("after a crash: solo %v, %+v; want solo, one shared crash", solo, a)
	}
	a, solo = mark(store.MarkFail)
	if solo || a.SoloCrashed() != 1 || a.Failed != 0 {
		t.Errorf("before the failure mark: %+v; want one solo crash, no failure", a)
	}
	if a, _ = mark(""); a.Failed != 1 {
		t.Errorf("failures %d, want 1", a.Failed)
	}
}
