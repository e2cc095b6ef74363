package explain

import (
	"context"
	"fmt"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// packCaps are the caps of the policy's regulation packs that applied to a
// decision, for the customer's current preferences (zone, region, consent)
// and the intent when known (else the decision's channel and category, and
// the subject its ledger entry names).
func (e *Explainer) packCaps(ctx context.Context, pol *policy.Policy, d *hushv1.Decision, it *hushv1.ContactIntent, at time.Time) ([]policy.CapCheck, error) {
	if len(pol.Packs()) == 0 {
		return nil, nil
	}
	if it == nil {
		it = &hushv1.ContactIntent{Id: d.GetIntentId(), CustomerId: d.GetCustomerId(), Channel: d.GetChannel(), Category: d.GetCategory()}
		ledger, err := e.Store.Ledger(ctx, d.GetCustomerId(), at.Add(-time.Second))
		if err != nil {
			return nil, err
		}
		for _, c := range ledger {
			if c.IntentID == d.GetIntentId() {
				it.SubjectRef = c.Subject
			}
		}
	}
	prefs, _, err := e.Store.Preferences(ctx, d.GetCustomerId())
	if err != nil {
		return nil, err
	}
	return pol.PackCaps(it, prefs, at), nil
}

// packWindows are how full the packs' caps were when decided.
func packWindows(caps []policy.CapCheck, ledger []store.Contact, at time.Time) []Window {
	out := make([]Window, 0, len(caps))
	for _, c := range caps {
		n, _ := c.Fill(ledger, at)
		window := policy.FormatWindow(c.Window)
		if c.Days > 0 {
			window = fmt.Sprintf("%d calendar days", c.Days)
		}
		out = append(out, Window{Rule: c.Rule, Scope: c.Scope.String(), Value: c.Value, Window: window, Count: n, Max: c.Max, Mode: string(c.Mode())})
	}
	return out
}
