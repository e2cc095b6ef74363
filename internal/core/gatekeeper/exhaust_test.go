package gatekeeper_test

import (
	"context"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

// TestDecidedIntentWhosePublishFailsToTheLastDeliveryIsPublishedNotDeadLettered:
// the decision is recorded, every publish of its outcome fails until the
// deliveries run out; the intent must still end with its one recorded
// outcome, never a dead letter beside (or instead of) it.
func TestDecidedIntentWhosePublishFailsToTheLastDeliveryIsPublishedNotDeadLettered(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.js.DeleteStream(ctx, h.subjects.Stream(bus.StreamDispatch)); err != nil {
		t.Fatal(err)
	}
	h.startGatekeeper(gatekeeper.Options{MaxDeliver: 2})
	h.publish(intent("last-1", "c-1", "email", "marketing"))

	deadline := time.Now().Add(30 * time.Second)
	for consumerInfo(t, h).Delivered.Consumer < 2 { // both deliveries used up
		if time.Now().After(deadline) {
			t.Fatal("the intent was not delivered twice")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // its last publish fails too
	if d, err := h.store.Decision(ctx, "c-1", "last-1"); err != nil || d == nil {
		t.Fatalf("decision not recorded (%v): the test did not reach its point", err)
	}
	testenv.EnsureStreams(t, h.js, h.subjects)

	dispatched, suppressed, dead := h.outcomes(1)
	if len(dispatched) != 1 || len(suppressed) != 0 || len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead-lettered %d; want exactly the one recorded dispatch", len(dispatched), len(suppressed), len(dead))
	}
}
