package gatekeeper

import (
	"context"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// agentBudget is one intent's claim on an agent's budget of unsolicited
// contacts. The budget lives in the agent's Redis slot, not the customer's,
// so it cannot be checked in the customer's decision script: a unit is
// reserved before the decision, confirmed when the decision approved the
// contact and released when it did not. A suppressed intent therefore never
// spends budget, and racing replicas never exceed it (the reservation is
// atomic in the agent's slot).
type agentBudget struct {
	g      *Gatekeeper
	intent string
	agent  string // the agent holding a unit for the intent; "" for none
}

// reserve takes a unit when the verdict is an approved unsolicited agent
// contact. A spent budget turns the verdict into a suppression (or, for a
// shadow cap, adds a shadow reason). Reserving again for the same intent
// (a re-evaluation, a redelivery) keeps the one unit.
func (b *agentBudget) reserve(ctx context.Context, v *policy.Verdict, now time.Time) error {
	a := v.Agent
	if !v.Approved() || a.Agent == "" {
		return nil
	}
	r, err := b.g.store.ReserveAgent(ctx, store.AgentReservation{Check: a, IntentID: b.intent, Now: now})
	if err != nil {
		b.release(ctx)
		return err
	}
	if r.Reserved {
		b.agent = a.Agent
	}
	r.ApplyTo(v, a)
	return nil
}

// settle confirms the unit when the recorded decision (new or replayed)
// approved the contact, and releases it otherwise. A failed confirmation is
// an error: unconfirmed, the unit would lapse after its hold and the budget
// could be exceeded, so the intent is retried and its replayed approval
// confirms it.
func (b *agentBudget) settle(ctx context.Context, d *hushv1.Decision) error {
	if b.agent == "" {
		return nil
	}
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		b.release(ctx)
		return nil
	}
	return b.g.store.SettleAgent(ctx, b.agent, b.intent, true)
}

// release gives the unit back. A failure is only logged: the unit lapses
// after its hold (store.DefaultAgentHold).
func (b *agentBudget) release(ctx context.Context) {
	if b.agent == "" {
		return
	}
	if err := b.g.store.SettleAgent(context.WithoutCancel(ctx), b.agent, b.intent, false); err != nil {
		b.g.o.Logger.Warn("agent reservation not released; it lapses after its hold", "intent_id", b.intent, "err", err)
		return
	}
	b.agent = ""
}
