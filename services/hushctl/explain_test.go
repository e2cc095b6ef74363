package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hush-oss/hush/internal/core/explain"
)

// TestExplainApprovedAfterItsRedisRecordExpired deletes the Redis record of
// an approved intent (as its retention would): explain still finds the
// decision, from the dispatch stream, with the policy version the dispatch
// carries, with or without --customer.
func TestExplainApprovedAfterItsRedisRecordExpired(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	if err := c.redis.Client.Del(context.Background(), c.store.DecisionKey("busy", "m-2")).Err(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"explain", "m-2", "--json"}, {"explain", "m-2", "--customer", "busy", "--json"}} {
		out := c.run(args...)
		var got struct {
			Source   string `json:"source"`
			Decision struct {
				IntentID, CustomerID, Outcome, PolicyVersion, DecidedAt string
			} `json:"decision"`
			Windows []explain.Window `json:"windows"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		d := got.Decision
		if got.Source != explain.SourceDispatched || d.IntentID != "m-2" || d.CustomerID != "busy" || d.Outcome != "OUTCOME_APPROVED" ||
			d.PolicyVersion != "golden-1" || d.DecidedAt == "" || len(got.Windows) != 3 {
			t.Errorf("%v:\n%s", args, out)
		}
	}
}
