package bus

import (
	"testing"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// The history passes over deferrals by their Hush-Outcome header, which
// the gatekeeper writes with policy.ShortOutcome.
func TestOutcomeDeferredIsTheGatekeepersHeader(t *testing.T) {
	if got := policy.ShortOutcome(hushv1.Outcome_OUTCOME_DEFERRED); got != outcomeDeferred {
		t.Fatalf("a deferral's Hush-Outcome is %q, the history skips %q", got, outcomeDeferred)
	}
}
