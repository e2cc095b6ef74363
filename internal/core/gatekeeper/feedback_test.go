package gatekeeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestEveryDecisionIsFedBackToItsProducer: each decision, approval or
// suppression, is published once on hush.outcome.<producer>.<channel>,
// equal to the decision recorded, with the intent id as Nats-Msg-Id; a cap
// suppression says when the next contact is allowed; a republished intent
// is not fed back twice.
func TestEveryDecisionIsFedBackToItsProducer(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	for i := range 6 { // the policy allows 5 marketing contacts an hour
		h.publish(intent(fmt.Sprint("fb-", i), "fb", "email", "marketing"))
	}
	h.outcomes(6)
	h.publish(intent("fb-0", "fb", "email", "marketing")) // a republish
	// Wait until the gatekeeper has acked all seven messages.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := h.js.Consumer(context.Background(), h.subjects.Stream(bus.StreamIntents), "gatekeeper")
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the republish was not settled: ack floor %d", info.AckFloor.Stream)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for h.streamMsgs(bus.StreamOutcomes) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d outcomes fed back, want 6", h.streamMsgs(bus.StreamOutcomes))
		}
		time.Sleep(20 * time.Millisecond)
	}
	msgs := h.read(bus.StreamOutcomes)
	if len(msgs) != 6 {
		t.Fatalf("%d outcomes fed back, want 6 (one per intent)", len(msgs))
	}
	var first time.Time // the oldest approved contact's
	var suppressed *hushv1.Decision
	for _, m := range msgs {
		var fed hushv1.SuppressionRecord
		if err := proto.Unmarshal(m.Data(), &fed); err != nil || m.Headers().Get(bus.HeaderMessageType) != bus.MessageTypeRecord {
			t.Fatalf("outcome record: %v (type %q)", err, m.Headers().Get(bus.HeaderMessageType))
		}
		d := fed.GetDecision()
		if fed.GetIntent().GetId() != d.GetIntentId() || fed.GetIntent().GetPayload() != nil || fed.GetIntent().GetDestination() != "" {
			t.Errorf("outcome record's intent %v: want the decided intent without payload and destination", fed.GetIntent())
		}
		rec, err := h.store.Decision(context.Background(), "fb", d.GetIntentId())
		if err != nil || !proto.Equal(d, rec) {
			t.Errorf("fed back %v, recorded %v (%v)", &d, rec, err)
		}
		if m.Subject() != h.subjects.Outcome("campaigns", "email", "fb") || m.Headers().Get(bus.HeaderMsgID) != d.GetIntentId() {
			t.Errorf("outcome of %s on %s with Nats-Msg-Id %q", d.GetIntentId(), m.Subject(), m.Headers().Get(bus.HeaderMsgID))
		}
		switch at := d.GetDecidedAt().AsTime(); {
		case d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED:
			suppressed = d
		case first.IsZero() || at.Before(first):
			first = at
		}
	}
	// The workers decide concurrently: whichever came sixth was suppressed.
	if suppressed == nil || suppressed.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || suppressed.GetNextAllowedAt() == nil {
		t.Fatalf("the sixth contact in the hour: %v, want suppressed with next_allowed_at", suppressed)
	}
	if want := first.Truncate(time.Millisecond).Add(time.Hour); !suppressed.GetNextAllowedAt().AsTime().Equal(want) {
		t.Errorf("next allowed %v, want an hour after the first contact, %v", suppressed.GetNextAllowedAt().AsTime(), want)
	}
}
