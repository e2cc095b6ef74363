package gatekeeper_test

import "testing"

// clusterScenarios are end-to-end tests of the gatekeeper that also run on
// the clusters users grow into. Each is a Test function as it runs on a
// single NATS server and redis-server; run as a subtest of
// TestClusterEndToEnd, its newHarness gives it the clusters instead (so
// none may call t.Parallel: they share the clusters one after the other).
var clusterScenarios = []struct {
	name string
	run  func(*testing.T)
}{
	// Decisions: reasons, replays, opt-outs, and the cap under 8 replicas.
	{"decisions carry their reasons", TestSuppressionsCarryTheirReason},
	{"republished intent decided once", TestRepublishedIntentIsDecidedOnceAndDispatchedOnce},
	{"opt-out honoured by the next decision", TestOptOutIsHonouredByTheNextDecision},
	{"cap holds with eight replicas", TestCapHoldsWithEightReplicasRacingOnOneCustomer},
	// Agent budgets: reserved in the agent's slot ({a:<agent>}), confirmed
	// or released after the customer's decision in another slot.
	{"agent budget neither leaks nor is exceeded", TestAgentCapNeverLeaksBudgetNorExceedsIt},
	// Reply windows, opened through the inbound consumer.
	{"inbound contact opens a reply window", TestInboundContactOpensAReplyWindow},
	// STOP keywords: a revocation through the consent service, read by the
	// very next decision; one confirmation counted in the customer's slot.
	{"STOP keyword stops the next SMS, one confirmation passes", TestStopKeywordSuppressesTheNextSMSAndOneConfirmationPasses},
	// Deferrals: the quiet-hours rule defers; deferrals are released and
	// dispatched (or suppressed, or cancelled) once, replicas coming and
	// going.
	{"quiet-hours deferral logged with its release", TestQuietHoursDeferralGoesToTheSuppressionLogWithItsRelease},
	{"deferral released and decided again", TestDeferredIntentIsAckedAtOnceAndDecidedAgainAtItsReleaseTime},
	{"cancelled deferral never released", TestCancelledDeferralIsSuppressedAndNeverReleased},
	{"releases once while replicas come and go", TestReleasesHappenOnceWhileReplicasComeAndGo},
	{"digests folded and released once", TestDigestFoldsCountsOnceAndReleasesWhenFull},
	// Crashes: deliveries lost with gatekeepers never dead-letter a valid
	// intent; one that keeps killing them is dead-lettered (the attempts
	// record is one key in a slot of its own).
	{"intent outlives its dead gatekeepers", TestAnIntentWhoseGatekeepersDiedIsDecidedHoweverOftenItWasDelivered},
	{"intent that kills its gatekeepers dead-lettered", TestAnIntentThatKeepsKillingItsGatekeeperIsDeadLetteredAsTheCause},
}

// TestClusterEndToEnd runs clusterScenarios on a 3-server NATS cluster with
// R3 streams and a 3-master Redis Cluster together. The scenarios share the
// clusters (starting them takes longer than most scenarios), one after the
// other: each gets fresh streams and a Redis key prefix of its own.
func TestClusterEndToEnd(t *testing.T) {
	shareEnv(t, clusterEnv(t))
	for _, sc := range clusterScenarios {
		t.Run(sc.name, sc.run)
	}
}
