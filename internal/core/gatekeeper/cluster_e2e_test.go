package gatekeeper_test

import "testing"

// clusterScenarios are end-to-end tests of the gatekeeper that also run on
// the clusters users grow into; each runs unchanged on a single NATS server
// and redis-server in its own Test function.
var clusterScenarios = []struct {
	name string
	run  func(*testing.T, *harness)
}{
	// Decisions: reasons, replays, opt-outs, and the cap under 8 replicas.
	{"decisions carry their reasons", suppressionsCarryTheirReason},
	{"republished intent decided once", republishedIntentIsDecidedOnceAndDispatchedOnce},
	{"opt-out honoured by the next decision", optOutIsHonouredByTheNextDecision},
	{"cap holds with eight replicas", capHoldsWithEightReplicasRacingOnOneCustomer},
	// Agent budgets: reserved in the agent's slot ({a:<agent>}), confirmed
	// or released after the customer's decision in another slot.
	{"agent budget neither leaks nor is exceeded", agentCapNeverLeaksBudgetNorExceedsIt},
	// Reply windows, opened through the inbound consumer.
	{"inbound contact opens a reply window", inboundContactOpensAReplyWindow},
	// Deferrals: the quiet-hours rule defers; deferrals are released and
	// dispatched (or suppressed, or cancelled) once, replicas coming and
	// going.
	{"quiet-hours deferral logged with its release", quietHoursDeferralGoesToTheSuppressionLogWithItsRelease},
	{"deferral released and decided again", deferredIntentIsAckedAtOnceAndDecidedAgainAtItsReleaseTime},
	{"cancelled deferral never released", cancelledDeferralIsSuppressedAndNeverReleased},
	{"releases once while replicas come and go", releasesHappenOnceWhileReplicasComeAndGo},
}

// TestClusterEndToEnd runs clusterScenarios on a 3-server NATS cluster with
// R3 streams and a 3-master Redis Cluster together. The scenarios share the
// clusters (starting them takes longer than most scenarios), one after the
// other: each gets fresh streams and a Redis key prefix of its own.
func TestClusterEndToEnd(t *testing.T) {
	e := clusterEnv(t)
	for _, sc := range clusterScenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, newHarnessOn(t, e)) })
	}
}
