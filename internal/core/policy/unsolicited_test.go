package policy_test

import (
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// policy.Unsolicited tells every intent what Evaluate derives for the ones
// it approves: an agent's contact with no open reply window.
func TestUnsolicitedIsWhatTheGuardCounts(t *testing.T) {
	pol, err := policy.Parse("t.yaml", []byte("version: u-1\nfallback_time_zone: UTC\ncategories:\n  service: { class: service }\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name                 string
		initiator, inReplyTo string
		replyUntil           time.Time
		want                 bool
	}{
		{"system", "system", "", time.Time{}, false},
		{"agent, nobody reached out", "agent", "", time.Time{}, true},
		{"agent answering inside the window", "agent", "th-1", now.Add(time.Hour), false},
		{"agent answering after the window closed", "agent", "th-1", now, true},
		{"agent naming a thread with no window", "agent", "th-1", time.Time{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := policy.Input{Now: now, ReplyUntil: c.replyUntil, Intent: &hushv1.ContactIntent{Id: "i-1", CustomerId: "c-1",
				Channel: "email", Category: "service", Initiator: c.initiator, InReplyTo: c.inReplyTo, Purpose: "follow-up",
				Sender: &hushv1.Sender{Service: "support", AgentId: "agent-1"}}}
			if got := policy.Unsolicited(in); got != c.want {
				t.Errorf("Unsolicited = %v, want %v", got, c.want)
			}
			v := pol.Evaluate(in)
			if !v.Approved() || v.Unsolicited != c.want {
				t.Errorf("Evaluate: outcome %v, Unsolicited %v; Unsolicited says %v", v.Outcome, v.Unsolicited, c.want)
			}
		})
	}
}
