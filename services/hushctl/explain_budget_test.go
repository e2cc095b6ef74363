package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestExplainReservedBudget: explain shows why an intent was held back by
// a cap's reserved budget, the priority it was decided with, when a slot
// frees for it, and what the cap reserves.
func TestExplainReservedBudget(t *testing.T) {
	c := newCLI(t)
	pol, err := policy.LoadFile("testdata/priority.yaml")
	if err != nil {
		t.Fatal(err)
	}
	decide := func(id string, at time.Time) *hushv1.Decision {
		it := &hushv1.ContactIntent{Id: id, CustomerId: "saver", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "campaigns"}}
		res, err := c.store.DecideFresh(context.Background(), store.Fresh{Policy: pol, Now: func() time.Time { return at }}, it, store.Seen{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Decision
	}
	for i := range 3 {
		decide(fmt.Sprint("p-", i), t0.Add(time.Duration(i)*time.Hour))
	}
	if d := decide("p-held", t0.Add(24*time.Hour)); d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED {
		t.Fatalf("p-held: %v, want deferred by the reserve", d)
	}
	out := c.run("explain", "p-held", "--customer", "saver", "--policy", "testdata/priority.yaml")
	for _, want := range []string{
		`outcome +deferred`,
		`priority +normal`,
		`next allowed +2026-11-2\dT\d\d:\d\d:\d\dZ`,
		`reserved_budget +cap\.weekly +3 of 5 contacts in the last 7 days, and the other 2 are reserved for priority high and above; deferred to`,
		`cap\.weekly +customer +- +7d +3 +5 +enforce`,
		`cap\.weekly: last 2 for priority high and above; defers up to 7 days`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("explain says\n%s\nwant a line matching %q", out, want)
		}
	}
	if strings.Contains(c.run("explain", "p-0", "--customer", "saver", "--policy", "testdata/priority.yaml"), "next allowed") {
		t.Error("an approval names a next allowed time")
	}
}
