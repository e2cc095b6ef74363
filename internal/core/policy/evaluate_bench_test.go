package policy_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// BenchmarkEvaluateRules measures the rules with the default policy, per kind of
// decision: go test -run '^$' -bench Evaluate -benchmem ./internal/core/policy
func BenchmarkEvaluateRules(b *testing.B) {
	pol, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		b.Fatal(err)
	}
	prefs := &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-FL",
		OptedOutTopics: []string{"spring-sale"}, MaxFrequency: &hushv1.MaxFrequency{Count: 2, Window: durationpb.New(7 * 24 * time.Hour)}}
	day := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC) // 10:00 in New York
	agentIntent := baseIntent()
	agentIntent.Initiator, agentIntent.Sender.AgentId, agentIntent.Purpose, agentIntent.Category = "agent", "agent-7", "renewal", "support"
	optedOut := &hushv1.Preferences{OptedOutChannels: []string{"email"}}
	cases := []struct {
		name  string
		it    *hushv1.ContactIntent
		prefs *hushv1.Preferences
		now   time.Time
		want  hushv1.Outcome
	}{
		{"approved/no-prefs", baseIntent(), nil, day, approved},
		{"approved/prefs-zone-region-frequency", baseIntent(), prefs, day, approved},
		{"suppressed/opt-out", baseIntent(), optedOut, day, suppressed},
		{"deferred/quiet-hours", baseIntent(), prefs, day.Add(12 * time.Hour), deferred},
		{"approved/unsolicited-agent", agentIntent, prefs, day, approved},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			in := policy.Input{Intent: c.it, Prefs: c.prefs, Now: c.now}
			if v := pol.Evaluate(in); v.Outcome != c.want {
				b.Fatalf("outcome %v (%s), want %v", v.Outcome, v.Reason.Message, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				pol.Evaluate(in)
			}
		})
	}
}
