package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

var agentCap = policy.AgentCheck{Rule: policy.RuleUnsolicitedAgent, Agent: "agent-7", Window: 24 * time.Hour, Max: 20}

// TestAgentBudgetIsNeverExceededAndReleasedUnitsReturn races 100
// reservations over 16 connections for a budget of 20, then releases some
// (their intents were suppressed by the customer's own rules) and confirms
// the rest: released units go back to the budget, confirmed ones stay spent.
func TestAgentBudgetIsNeverExceededAndReleasedUnitsReturn(t *testing.T) {
	r := testenv.StartRedis(t)
	stores := clients(t, r, 16)
	ctx := context.Background()
	var mu sync.Mutex
	var reserved []string
	var wg sync.WaitGroup
	for w, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 100; i += len(stores) {
				id := fmt.Sprintf("a-%03d", i)
				res, err := st.ReserveAgent(ctx, store.AgentReservation{Check: agentCap, IntentID: id, Now: t0.Add(time.Duration(i) * time.Millisecond)})
				if err != nil {
					t.Error(err)
					return
				}
				if res.Reserved {
					mu.Lock()
					reserved = append(reserved, id)
					mu.Unlock()
				} else if !res.Full || res.Count != 20 || !res.Next.After(t0) {
					t.Errorf("refused with %+v", res)
				}
			}
		}()
	}
	wg.Wait()
	if len(reserved) != 20 {
		t.Fatalf("reserved %d units of a budget of 20", len(reserved))
	}
	st := stores[0]
	for i, id := range reserved {
		if err := st.SettleAgent(ctx, "agent-7", id, i%2 == 0); err != nil { // half approved, half suppressed
			t.Fatal(err)
		}
	}
	// Settling again changes nothing (a redelivered intent settles twice).
	for i, id := range reserved {
		if err := st.SettleAgent(ctx, "agent-7", id, i%2 != 0); err != nil {
			t.Fatal(err)
		}
	}
	counted, pending, err := st.AgentLedger(ctx, "agent-7", t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(counted) != 10 || pending != 0 {
		t.Fatalf("counted %d (pending %d) after confirming 10 and releasing 10", len(counted), pending)
	}
	var more atomic.Int32
	for i := range 30 {
		res, err := st.ReserveAgent(ctx, store.AgentReservation{Check: agentCap, IntentID: fmt.Sprint("b-", i), Now: t0.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reserved {
			more.Add(1)
		}
	}
	if more.Load() != 10 {
		t.Errorf("after releasing 10 units, %d more were reserved; want 10", more.Load())
	}
}

func TestAgentReservationIsIdempotentAndLapsesAfterItsHold(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	one := agentCap
	one.Max = 1
	res, err := st.ReserveAgent(ctx, store.AgentReservation{Check: one, IntentID: "x", Now: t0, Hold: time.Minute})
	if err != nil || !res.Reserved {
		t.Fatalf("%+v %v", res, err)
	}
	// The same intent again (a redelivery) keeps its unit.
	if res, _ := st.ReserveAgent(ctx, store.AgentReservation{Check: one, IntentID: "x", Now: t0.Add(time.Second), Hold: time.Minute}); !res.Reserved {
		t.Fatalf("a redelivered intent lost its reservation: %+v", res)
	}
	if res, _ := st.ReserveAgent(ctx, store.AgentReservation{Check: one, IntentID: "y", Now: t0.Add(time.Second), Hold: time.Minute}); res.Reserved || !res.Full {
		t.Fatalf("a second intent got the only unit: %+v", res)
	}
	// "x"'s gatekeeper died without settling: after the hold its unit
	// returns to the budget.
	if res, _ := st.ReserveAgent(ctx, store.AgentReservation{Check: one, IntentID: "y", Now: t0.Add(time.Minute), Hold: time.Minute}); !res.Reserved {
		t.Fatalf("an orphaned reservation kept its unit past its hold: %+v", res)
	}
	// A confirmed unit never lapses.
	if err := st.SettleAgent(ctx, "agent-7", "y", true); err != nil {
		t.Fatal(err)
	}
	if res, _ := st.ReserveAgent(ctx, store.AgentReservation{Check: one, IntentID: "z", Now: t0.Add(time.Hour), Hold: time.Minute}); res.Reserved {
		t.Fatalf("a confirmed unit lapsed: %+v", res)
	}
	// A release after a confirmation does not give the unit back.
	if err := st.SettleAgent(ctx, "agent-7", "y", false); err != nil {
		t.Fatal(err)
	}
	if res, _ := st.ReserveAgent(ctx, store.AgentReservation{Check: one, IntentID: "z", Now: t0.Add(time.Hour)}); res.Reserved {
		t.Fatalf("a confirmed unit was released: %+v", res)
	}
}

func TestShadowAgentCapReservesAndReportsOver(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	shadow := agentCap
	shadow.Max, shadow.Shadow = 1, true
	for i, wantFull := range []bool{false, true, true} {
		res, err := st.ReserveAgent(context.Background(), store.AgentReservation{Check: shadow, IntentID: fmt.Sprint("s-", i), Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Reserved || res.Full != wantFull {
			t.Errorf("reservation %d: %+v, want reserved, full %v", i, res, wantFull)
		}
		if wantFull {
			if msg := res.Reason(shadow).Message; msg == "" {
				t.Error("no explanation")
			}
		}
	}
}
