package gatekeeper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
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
	failed := make(chan struct{}, 16)
	h.startGatekeeper(gatekeeper.Options{MaxDeliver: 2, Observer: publishFailures(failed)})
	h.publish(intent("last-1", "c-1", "email", "marketing"))

	for i := range 2 { // its publish fails on both deliveries
		select {
		case <-failed:
		case <-time.After(30 * time.Second):
			t.Fatalf("publish failures: %d, want 2", i)
		}
	}
	if n := consumerInfo(t, h).Delivered.Consumer; n < 2 {
		t.Fatalf("the intent was delivered %d times, want 2", n)
	}
	if d, err := h.store.Decision(ctx, "c-1", "last-1"); err != nil || d == nil {
		t.Fatalf("decision not recorded (%v): the test did not reach its point", err)
	}
	testenv.EnsureStreams(t, h.js, h.subjects)

	dispatched, suppressed, dead := h.outcomes(1)
	if len(dispatched) != 1 || len(suppressed) != 0 || len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead-lettered %d; want exactly the one recorded dispatch", len(dispatched), len(suppressed), len(dead))
	}
}

// publishFailures is an observer that signals every delivery handed back
// because its outcome's publish failed.
type publishFailures chan<- struct{}

func (f publishFailures) Retried(err error) {
	if errors.Is(err, gatekeeper.ErrPublish) {
		select {
		case f <- struct{}{}:
		default:
		}
	}
}
func (publishFailures) Decided(*hushv1.Decision, bool, time.Duration, time.Duration) {}
func (publishFailures) DeadLettered(string)                                          {}
func (publishFailures) InFlight(int)                                                 {}
