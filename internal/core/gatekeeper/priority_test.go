package gatekeeper_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestCapDeferralIsReleasedWithinASecondOfItsSlot: a cap that defers holds
// the intent it blocks (durably, as a JetStream schedule) until the exact
// instant the window frees a slot, read from the ledger; the intent is then
// decided again and dispatched within a second of that instant.
func TestCapDeferralIsReleasedWithinASecondOfItsSlot(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(`version: wait-1
categories:
  marketing: { class: marketing }
caps:
  - { id: burst, scope: customer, window: 3s, max: 1, classes: [marketing], action: defer, max_wait: 1m }
`)
	h.startGatekeeper(gatekeeper.Options{})
	h.publish(intent("first", "c-wait", "email", "marketing"))
	waitAcked(t, h, 1)
	h.publish(intent("second", "c-wait", "email", "marketing"))
	waitAcked(t, h, 2)

	ledger, err := h.store.Ledger(context.Background(), "c-wait", time.Now().Add(-time.Hour))
	if err != nil || len(ledger) != 1 {
		t.Fatalf("ledger %v, %v; want the first contact", ledger, err)
	}
	slot := ledger[0].At.Add(3 * time.Second)
	_, deferred := h.terminal()
	d := deferred["second"]
	if len(d) != 1 || !d[0].GetReleaseAt().AsTime().Equal(slot) || d[0].GetReasons()[0].GetRule() != "cap.burst" {
		t.Fatalf("deferral log %v; want second deferred by cap.burst to %s", d, slot)
	}

	waitFor(t, 30*time.Second, "second dispatched", func() bool { return h.streamMsgs(bus.StreamDispatch) >= 2 })
	out, _ := h.terminal()
	if got := out["second"]; len(got) != 1 || got[0] != "dispatched" {
		t.Fatalf("second: %v, want dispatched once after its slot", got)
	}
	for _, m := range h.read(bus.StreamDispatch) {
		md, _ := m.Metadata()
		if m.Headers().Get(nats.MsgIdHdr) == "second" && (md.Timestamp.Before(slot) || md.Timestamp.After(slot.Add(time.Second))) {
			t.Errorf("second dispatched at %s, want within 1s after its slot %s", md.Timestamp, slot)
		}
	}
	assertLedger(t, h, "c-wait", 2)
}

// TestArbitrationAcrossGatekeepersEndToEnd publishes a burst of one
// customer's intents to three gatekeepers; the cap has one slot. The
// high-priority one takes it whichever replica decides it, and the others
// are suppressed with what they lost to.
func TestArbitrationAcrossGatekeepersEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(`version: arb-1
categories:
  marketing: { class: marketing }
  service:   { class: service, priority: high }
arbitration: { window: 250ms }
caps:
  - { id: daily, scope: customer, window: 24h, max: 1, classes: [service, marketing] }
`)
	for range 3 {
		h.startGatekeeper(gatekeeper.Options{})
	}
	created := time.Now().Add(-time.Minute)
	for i, c := range []struct{ id, category, priority string }{
		{"low-old", "marketing", "low"}, {"normal", "marketing", ""}, {"service", "service", ""}, {"urgent-marketing", "marketing", "urgent"},
	} {
		it := intent(c.id, "c-burst", "email", c.category)
		it.Priority, it.CreatedAt = c.priority, timestamppb.New(created.Add(time.Duration(i)*time.Second))
		h.publish(it)
	}
	waitFor(t, 30*time.Second, "four outcomes", func() bool {
		return h.streamMsgs(bus.StreamDispatch)+h.streamMsgs(bus.StreamSuppressed) >= 4
	})
	out, _ := h.terminal()
	if got := out["urgent-marketing"]; len(got) != 1 || got[0] != "dispatched" {
		t.Fatalf("outcomes %v; want the urgent intent dispatched", out)
	}
	for _, m := range h.read(bus.StreamSuppressed) {
		d := suppression(t, m).GetDecision()
		r := d.GetReasons()[0]
		if r.GetCode() != hushv1.ReasonCode_REASON_CODE_LOST_ARBITRATION || !strings.HasPrefix(r.GetMessage(), "lost to a priority-urgent marketing contact: 1 of 1 contacts in the last 1 day") {
			t.Errorf("%s: %v, want lost_arbitration to the urgent one", d.GetIntentId(), r)
		}
	}
	assertLedger(t, h, "c-burst", 1)
}

// TestReleasesAtTheSameInstantAreArbitrated: deferrals of one customer
// released at the end of the same quiet hours compete for the cap's two
// slots; across three gatekeepers the two highest priorities take them
// (the older of equals first) and the others are told what they lost to.
func TestReleasesAtTheSameInstantAreArbitrated(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(`version: arb-2
categories:
  marketing: { class: marketing }
arbitration: { window: 200ms }
caps:
  - { id: daily, scope: customer, window: 24h, max: 2, classes: [marketing] }
`)
	for range 3 {
		h.startGatekeeper(gatekeeper.Options{})
	}
	releaseAt := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	created := time.Now().Add(-time.Hour)
	for i, c := range []struct{ id, priority string }{
		{"normal-old", "normal"}, {"high-new", "high"}, {"low-oldest", "low"}, {"normal-new", ""},
	} {
		it := intent(c.id, "c-dawn", "email", "marketing")
		it.Priority = c.priority
		it.CreatedAt = timestamppb.New(created.Add(time.Duration(i) * time.Minute))
		if c.id == "low-oldest" {
			it.CreatedAt = timestamppb.New(created.Add(-time.Hour))
		}
		h.recordDeferral(it, releaseAt)
		h.publish(it)
	}
	waitFor(t, 30*time.Second, "four terminal outcomes", func() bool {
		out, _ := h.terminal()
		return len(out) == 4
	})
	out, _ := h.terminal()
	for id, want := range map[string]string{
		"high-new":   "dispatched",
		"normal-old": "dispatched",
		"normal-new": "suppressed:lost_arbitration:cap.daily",
		"low-oldest": "suppressed:lost_arbitration:cap.daily",
	} {
		if got := out[id]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v, want [%s]", id, got, want)
		}
	}
	assertLedger(t, h, "c-dawn", 2)
}

// TestReservedBudgetAcrossEightGatekeepers races eight gatekeepers on one
// customer whose cap of 5 keeps its last 2 for priority high: intents below
// high take exactly the 3 open slots; then, racing with high ones, only
// high ones are dispatched, and never more than 5 in all.
func TestReservedBudgetAcrossEightGatekeepers(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(`version: reserve-1
categories:
  marketing: { class: marketing }
caps:
  - { id: weekly, scope: customer, window: 7d, max: 5, classes: [marketing], reserve: { count: 2, for: high } }
`)
	for range 8 {
		h.startGatekeeper(gatekeeper.Options{})
	}
	dispatched := func() map[string]bool {
		out := map[string]bool{}
		for _, m := range h.read(bus.StreamDispatch) {
			out[m.Headers().Get(nats.MsgIdHdr)] = true
		}
		return out
	}
	for i := range 24 {
		it := intent(fmt.Sprintf("open-%02d", i), "c-reserve", "email", "marketing")
		it.Priority = []string{"low", "normal", ""}[i%3]
		h.publish(it)
	}
	waitAcked(t, h, 24)
	if got := dispatched(); len(got) != 3 {
		t.Fatalf("dispatched %v below priority high, want exactly the 3 open slots", got)
	}
	for i := range 24 {
		it := intent(fmt.Sprintf("mixed-%02d", i), "c-reserve", "email", "marketing")
		it.Priority = []string{"low", "high", "normal", "urgent"}[i%4]
		h.publish(it)
	}
	waitAcked(t, h, 48)
	got := dispatched()
	if len(got) != 5 {
		t.Fatalf("dispatched %d, want the cap's 5: %v", len(got), got)
	}
	for id := range got {
		if n := 0; strings.HasPrefix(id, "mixed-") {
			fmt.Sscanf(id, "mixed-%d", &n)
			if p := []string{"low", "high", "normal", "urgent"}[n%4]; p != "high" && p != "urgent" {
				t.Errorf("%s of priority %s took a reserved slot", id, p)
			}
		}
	}
	out, _ := h.terminal()
	for id, o := range out {
		if o[0] != "dispatched" && o[0] != "suppressed:reserved_budget:cap.weekly" && o[0] != "suppressed:frequency_cap:cap.weekly" {
			t.Errorf("%s: %v", id, o)
		}
	}
	assertLedger(t, h, "c-reserve", 5)
}
