package explain

import (
	"context"
	"fmt"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Budget says in words what a cap reserves for higher priorities and what
// it does to an intent it blocks, e.g. "last 2 for priority high and
// above; defers up to 2 days"; "" for a plain cap that suppresses.
func Budget(c *policy.Cap) string {
	s := ""
	if c.Reserve > 0 {
		s = fmt.Sprintf("last %d for priority %s and above", c.Reserve, c.ReserveFor)
	}
	if c.Action == policy.Defer {
		if s != "" {
			s += "; "
		}
		wait := c.MaxWait
		if wait == 0 {
			wait = c.Window
		}
		s += "defers up to " + policy.HumanWindow(wait)
	}
	return s
}

// Digest is what an explanation says of the digest a folded intent went
// into.
type Digest struct {
	ID string `json:"id"`
	// State is "pending" (not yet released), "released" or "unknown"
	// (past the decision retention).
	State     string `json:"state"`
	ReleaseAt string `json:"release_at,omitempty"`
	Trigger   string `json:"trigger,omitempty"`
	Intents   int    `json:"intents"`
	// Decision is the released digest's own decision, decided as one
	// contact: approved (one Digest dispatched) or suppressed.
	Decision *hushv1.Decision `json:"-"`
}

// digestOf reads the state of the digest a decision names; nil when the
// decision folded nothing.
func (e *Explainer) digestOf(ctx context.Context, d *hushv1.Decision) (*Digest, error) {
	id := d.GetDigestId()
	if id == "" {
		return nil, nil
	}
	info := &Digest{ID: id, State: "unknown"}
	p, ok, err := e.Store.PendingDigest(ctx, d.GetCustomerId(), id)
	if err != nil {
		return nil, err
	}
	if ok {
		info.State, info.ReleaseAt, info.Trigger, info.Intents = "pending", p.ReleaseAt.UTC().Format(time.RFC3339), p.Trigger, p.Count
		return info, nil
	}
	ids, err := e.Store.DigestIntents(ctx, d.GetCustomerId(), id)
	if err != nil {
		return nil, err
	}
	if info.Decision, err = e.Store.DigestDecision(ctx, d.GetCustomerId(), id); err != nil {
		return nil, err
	}
	if ids != nil || info.Decision != nil {
		info.State, info.Intents = "released", len(ids)
	}
	return info, nil
}
