package gatekeeper_test

import (
	"strings"
	"testing"
	"time"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// nextDayAt returns a local time h:00 in zone name on a day at least two
// days ahead, so that a deferral to later that day stays in the future
// for the real JetStream schedule that holds it.
func nextDayAt(t *testing.T, name string, h int) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Now().In(loc).AddDate(0, 0, 2)
	return time.Date(d.Year(), d.Month(), d.Day(), h, 0, 0, 0, loc)
}

// TestUnknownZoneFailsClosedEndToEnd runs the shipped default policy on
// real servers: a Florida customer who set no time zone gets no marketing
// at 04:00 in Miami (the fallback zone, UTC, says 09:00); it is deferred
// to 08:00 in the state's Central-time panhandle. A customer of whom only
// the phone number is known is held by the number's zone, and the number
// appears on no decision.
func TestUnknownZoneFailsClosedEndToEnd(t *testing.T) {
	h := newHarness(t)
	h.usePolicy(string(policyfiles.Default))
	miami := nextDayAt(t, "America/New_York", 4)
	now := miami.UTC()
	h.setPrefs("fl-no-zone", &hushv1.Preferences{Region: "US-FL"})
	h.startGatekeeper(gatekeeper.Options{Now: func() time.Time { return now }})

	h.publish(intent("fl-night", "fl-no-zone", "email", "marketing"))
	byNumber := intent("sf-night", "no-prefs", "sms", "marketing")
	byNumber.Destination = "+14155550100"
	h.publish(byNumber)

	dispatched, suppressed, dead := h.outcomes(2)
	if len(dispatched) != 0 || len(dead) != 0 {
		t.Fatalf("dispatched %d, dead %d; want both intents held back", len(dispatched), len(dead))
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	losAngeles, _ := time.LoadLocation("America/Los_Angeles")
	want := map[string]time.Time{
		"fl-night": time.Date(miami.Year(), miami.Month(), miami.Day(), 8, 0, 0, 0, chicago),
		"sf-night": time.Date(miami.Year(), miami.Month(), miami.Day(), 8, 0, 0, 0, losAngeles),
	}
	got := reasonsByID(t, suppressed)
	for id, release := range want {
		d := got[id]
		if d.GetOutcome() != hushv1.Outcome_OUTCOME_DEFERRED || !d.GetReleaseAt().AsTime().Equal(release) ||
			d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_QUIET_HOURS {
			t.Errorf("%s: %v; want deferred to %v for quiet hours", id, d, release.UTC())
		}
		if strings.Contains(d.String(), "555") {
			t.Errorf("%s: the decision repeats the phone number: %v", id, d)
		}
	}
}

// TestUnknownZoneSuppressEndToEnd: with unknown_zone: suppress, a customer
// of whom no zone, region or number is known gets no marketing at any time
// of day, and one whose region is known is decided in its zones.
func TestUnknownZoneSuppressEndToEnd(t *testing.T) {
	h := newHarness(t)
	doc := strings.Replace(string(policyfiles.Default), "\nunknown_zone: defer\n", "\nunknown_zone: suppress\n", 1)
	if doc == string(policyfiles.Default) {
		t.Fatal("deploy/policy/default.yaml no longer says unknown_zone: defer")
	}
	h.usePolicy(doc)
	now := nextDayAt(t, "America/New_York", 12).UTC() // noon in New York, 17:00 UTC
	h.setPrefs("fl-day", &hushv1.Preferences{Region: "US-FL"})
	h.startGatekeeper(gatekeeper.Options{Now: func() time.Time { return now }})

	h.publish(intent("unknown-noon", "nothing-known", "email", "marketing"))
	h.publish(intent("fl-noon", "fl-day", "email", "marketing"))

	dispatched, suppressed, _ := h.outcomes(2)
	if len(dispatched) != 1 || len(suppressed) != 1 {
		t.Fatalf("dispatched %d, suppressed %d; want the Florida customer's intent only dispatched", len(dispatched), len(suppressed))
	}
	d := suppression(t, suppressed[0]).GetDecision()
	if d.GetIntentId() != "unknown-noon" || d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED ||
		d.GetReasons()[0].GetRule() != "quiet_hours" || !strings.Contains(d.GetReasons()[0].GetMessage(), "time zone is unknown") {
		t.Errorf("decision %v; want unknown-noon suppressed by quiet_hours for an unknown zone", d)
	}
}
