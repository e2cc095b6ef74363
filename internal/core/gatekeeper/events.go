package gatekeeper

import (
	"context"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// recordEvent keeps an inbound event (a conversation, a refusal, a STOP
// keyword) for the cooldowns of the policy's regulation packs, under the
// customer's hash tag, so that the decision script reads it atomically with
// the customer's preferences. Plain messages, and every event when no pack
// reads events, are not kept.
func (g *Gatekeeper) recordEvent(ctx context.Context, in *hushv1.InboundContact, at, now time.Time) error {
	retention := g.policy.Load().EventRetention
	if retention <= 0 || in.GetKind() == "" || in.GetKind() == "message" {
		return nil
	}
	return g.store.RecordEvent(ctx, in, at, now, retention)
}
