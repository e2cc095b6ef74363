package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/simulate"
)

// TestSimulate replays the golden workload (recorded by a real gatekeeper
// on NATS and Redis) against a candidate that allows one marketing contact
// a day per channel instead of two: m-2 (the second email) turns
// approved→suppressed; m-5, refused by the hourly cap, is now refused by
// the channel cap (push, after m-4): no change. The baseline is the policy
// in force, read from the policies bucket, and its replay agrees with every
// recorded decision. Swapped (--baseline the candidate), m-2 turns
// suppressed→approved and the baseline disagrees with the record on m-2.
// Once the candidate is in force, the baseline of the workload's time is
// still the version that was in force then.
func TestSimulate(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	out := c.run("simulate", "--policy", "testdata/candidate.yaml", "--since", "1h", "--json")
	var rep simulate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Baseline.Version != "golden-1" || rep.Candidate.Version != "golden-2" || rep.Intents != 9 {
		t.Fatalf("baseline %s, candidate %s, %d intents:\n%s", rep.Baseline.Version, rep.Candidate.Version, rep.Intents, out)
	}
	if rep.ApprovedToSuppressed != 1 || rep.SuppressedToApproved != 0 || len(rep.Examples) != 1 ||
		rep.Examples[0].IntentID != "m-2" || rep.Examples[0].Rule != "cap.email-daily" {
		t.Errorf("changes:\n%s", out)
	}
	if r := rep.Recorded; r == nil || r.Compared != 9 || r.Agree != 9 {
		t.Errorf("baseline against the recorded decisions: %+v", r)
	}
	text := c.run("simulate", "--policy", "testdata/candidate.yaml", "--since", "1h")
	for _, want := range []string{"approved→suppressed  1", "suppressed→approved  0", "cap.email-daily", "9 compared, 9 agree, 0 differ"} {
		if !strings.Contains(text, want) {
			t.Errorf("simulate says no %q:\n%s", want, text)
		}
	}
	swapped := c.run("simulate", "--policy", "testdata/policy.yaml", "--baseline", "testdata/candidate.yaml", "--since", "1h")
	for _, want := range []string{"approved→suppressed  0", "suppressed→approved  1", "9 compared, 8 agree, 1 differ", "m-2: recorded approved (policy golden-1), baseline suppressed"} {
		if !strings.Contains(swapped, want) {
			t.Errorf("simulate with the candidate as baseline says no %q:\n%s", want, swapped)
		}
	}
	// The candidate goes live after the workload: the baseline is still
	// golden-1 for the intents of its time (the history of the version in
	// force), so the diff and the agreement with the record stay the same.
	candidate, err := os.ReadFile("testdata/candidate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishPolicy(context.Background(), c.js, c.subjects(), "golden-2", candidate, 1); err != nil {
		t.Fatal(err)
	}
	out = c.run("simulate", "--policy", "testdata/candidate.yaml", "--since", "1h", "--json")
	rep = simulate.Report{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Baseline.Version != "golden-2" || len(rep.Earlier) != 1 || rep.Earlier[0].Version != "golden-1" || !rep.Baseline.From.After(rep.Earlier[0].From) ||
		rep.ApprovedToSuppressed != 1 || rep.Recorded.Agree != 9 || rep.Recorded.OtherVersions != 0 {
		t.Errorf("after the candidate went live:\n%s", out)
	}
	if _, _, err := c.try("simulate", "--policy", "testdata/candidate.yaml", "--since", "1h", "--until", "2h"); err == nil {
		t.Error("--until before --since is refused")
	}
}
