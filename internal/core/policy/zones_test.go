package policy_test

import (
	"strings"
	"testing"
	"time"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// zonePolicy is the shipped default's quiet hours (UTC fallback, US and
// US-FL rules, deferral) with the zone options a test sets.
const zonePolicy = `
version: z-1
fallback_time_zone: UTC
categories:
  transactional: { class: transactional }
  marketing:     { class: marketing }
quiet_hours:
  classes: [service, marketing]
  action: defer
  quiet: ["21:00-08:00"]
  regions:
    US:    { allowed: "08:00-21:00" }
    US-FL: { allowed: "08:00-20:00" }
producers:
  campaigns: { categories: [transactional] }
`

func zoned(extra string) string { return zonePolicy + extra }

func sms(number string) func(*hushv1.ContactIntent) {
	return func(it *hushv1.ContactIntent) { it.Channel, it.Destination = "sms", number }
}

// TestUnknownZonesFailClosed: when the customer has not set a zone, the
// candidate zones are those of their region and of their phone number, and
// a contact is allowed only when every candidate allows it.
func TestUnknownZonesFailClosed(t *testing.T) {
	// 2026-11-24 (EST, CST, PST, AEDT): 09:00Z is 04:00 in Miami.
	at := func(h, m int) time.Time { return time.Date(2026, 11, 24, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name    string
		policy  string
		intent  func(*hushv1.ContactIntent)
		prefs   *hushv1.Preferences
		now     time.Time
		outcome hushv1.Outcome
		release time.Time
		msg     string
	}{
		{name: "US-FL without a zone at 04:00 in Miami is deferred to 08:00 in the panhandle (Central)",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "US-FL"}, now: at(9, 0),
			outcome: deferred, release: at(14, 0)},
		{name: "US-FL without a zone at 08:30 in Miami waits for 08:00 in Pensacola",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "US-FL"}, now: at(13, 30),
			outcome: deferred, release: at(14, 0)},
		{name: "US-FL without a zone at 09:00 in Pensacola is approved",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "US-FL"}, now: at(15, 0), outcome: approved},
		{name: "US-FL without a zone stops at 20:00 in Miami, not in Pensacola",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "US-FL"}, now: at(1, 30).Add(24 * time.Hour),
			outcome: deferred, release: at(14, 0).Add(24 * time.Hour)},
		{name: "an invalid zone is no zone: the region's zones decide",
			policy: zonePolicy, prefs: &hushv1.Preferences{TimeZone: "Mars/Olympus_Mons", Region: "US-FL"}, now: at(9, 0),
			outcome: deferred, release: at(14, 0)},
		{name: "US-IN without a zone: Indianapolis at 08:30 EST, Gary at 07:30 CST",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "US-IN"}, now: at(13, 30),
			outcome: deferred, release: at(14, 0)},
		{name: "AU-NSW without a zone waits for 08:00 in Broken Hill (UTC+10:30)",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "AU-NSW"}, now: at(20, 45),
			outcome: deferred, release: at(21, 30)},
		{name: "CA-BC without a zone: 08:00 in the Rockies is 07:00 in Vancouver",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "CA-BC"}, now: at(15, 0),
			outcome: deferred, release: at(16, 0)},
		{name: "a subdivision the table does not know takes every zone of its country",
			policy: zonePolicy, prefs: &hushv1.Preferences{Region: "US-ZZ"}, now: at(14, 0),
			outcome: deferred, release: at(18, 0)},
		{name: "no zone, no region: a Pacific number (+1 415) at 05:30 in San Francisco",
			policy: zonePolicy, intent: sms("+14155550100"), prefs: &hushv1.Preferences{}, now: at(13, 30),
			outcome: deferred, release: at(16, 0)},
		{name: "no preferences at all: the number still counts",
			policy: zonePolicy, intent: sms("+1 (415) 555-0100"), now: at(13, 30),
			outcome: deferred, release: at(16, 0)},
		{name: "a national number is read in the customer's country",
			policy: zonePolicy, intent: sms("415 555 0100"), prefs: &hushv1.Preferences{Region: "US-NY"}, now: at(13, 30),
			outcome: deferred, release: at(16, 0)},
		{name: "region and number together: New York's region, a Californian number",
			policy: zonePolicy, intent: sms("+14155550100"), prefs: &hushv1.Preferences{Region: "US-NY"}, now: at(13, 30),
			outcome: deferred, release: at(16, 0)},
		{name: "an email address is not a phone number",
			policy: zonePolicy, intent: func(it *hushv1.ContactIntent) { it.Destination = "+14155550100@example.com" },
			prefs: &hushv1.Preferences{Region: "US-NY"}, now: at(13, 30), outcome: approved},
		{name: "a zone the customer set decides on its own",
			policy: zonePolicy, intent: sms("+14155550100"), prefs: &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-CA"},
			now: at(13, 30), outcome: approved},
		{name: "the stricter reading adds every zone of the number to the customer's",
			policy: strings.Replace(zonePolicy, "  action: defer\n", "  action: defer\n  strict_zones: true\n", 1),
			intent: sms("+14155550100"), prefs: &hushv1.Preferences{TimeZone: "America/New_York"},
			now: at(13, 30), outcome: deferred, release: at(16, 0)},
		{name: "the stricter reading with no number is the customer's zone",
			policy: strings.Replace(zonePolicy, "  action: defer\n", "  action: defer\n  strict_zones: true\n", 1),
			prefs:  &hushv1.Preferences{TimeZone: "America/New_York"}, now: at(13, 30), outcome: approved},
		{name: "nothing known, unknown_zone defer: the fallback zone (UTC) decides",
			policy: zoned("unknown_zone: defer\n"), prefs: &hushv1.Preferences{}, now: at(3, 0),
			outcome: deferred, release: at(8, 0)},
		{name: "nothing known, unknown_zone defer, UTC daytime",
			policy: zoned("unknown_zone: defer\n"), now: at(13, 30), outcome: approved},
		{name: "nothing known, fallback_region US: deferred to a time allowed in every US zone (08:00 in Honolulu)",
			policy: zoned("unknown_zone: defer\nfallback_region: US\n"), now: at(13, 30),
			outcome: deferred, release: at(18, 0)},
		{name: "nothing known, fallback_region US, 19:00Z is allowed from Honolulu to New York",
			policy: zoned("unknown_zone: defer\nfallback_region: US\n"), now: at(19, 0), outcome: approved},
		{name: "nothing known, unknown_zone suppress: suppressed even at noon",
			policy: zoned("unknown_zone: suppress\n"), prefs: &hushv1.Preferences{Region: ""}, now: at(12, 0),
			outcome: suppressed, msg: "time zone is unknown"},
		{name: "unknown_zone suppress does not touch a customer whose region is known",
			policy: zoned("unknown_zone: suppress\n"), prefs: &hushv1.Preferences{Region: "US-FL"}, now: at(15, 0), outcome: approved},
		{name: "unknown_zone suppress does not touch classes without quiet hours",
			policy: zoned("unknown_zone: suppress\n"), intent: category("transactional"), now: at(12, 0), outcome: approved},
		{name: "no time allowed in every zone within a week is a suppression",
			policy: strings.Replace(zonePolicy, `US:    { allowed: "08:00-21:00" }`, `US:    { allowed: "08:00-10:00" }`, 1),
			prefs:  &hushv1.Preferences{Region: "US"}, now: at(12, 0), outcome: suppressed, msg: "every time zone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := mustParse(t, c.policy)
			it := baseIntent()
			if c.intent != nil {
				c.intent(it)
			}
			v := pol.Evaluate(policy.Input{Intent: it, Prefs: c.prefs, Now: c.now})
			if v.Outcome != c.outcome {
				t.Fatalf("outcome %v (%s), want %v", v.Outcome, v.Reason.Message, c.outcome)
			}
			if !v.ReleaseAt.Equal(c.release) {
				t.Errorf("release at %v, want %v (%s)", v.ReleaseAt, c.release, v.Reason.Message)
			}
			if c.outcome != approved && v.Reason.Rule != policy.RuleQuietHours {
				t.Errorf("rule %q, want %q", v.Reason.Rule, policy.RuleQuietHours)
			}
			if !strings.Contains(v.Reason.Message, c.msg) {
				t.Errorf("message %q, want it to say %q", v.Reason.Message, c.msg)
			}
			if c.intent != nil && strings.Contains(v.Reason.Message, "555") {
				t.Errorf("the message %q repeats the phone number", v.Reason.Message)
			}
			if c.outcome == deferred {
				// At the release time every candidate zone allows it.
				if after := pol.Evaluate(policy.Input{Intent: it, Prefs: c.prefs, Now: v.ReleaseAt}); after.Outcome != approved {
					t.Errorf("at the release time: %v (%s)", after.Outcome, after.Reason.Message)
				}
			}
		})
	}
}

// TestDeferralAcrossZonesIsDSTCorrect: the earliest time allowed in every
// zone of a region is computed on each zone's own calendar, also on the
// night the clocks change an hour apart in two of them (New York changes at
// 02:00 Eastern, Chicago an hour later).
func TestDeferralAcrossZonesIsDSTCorrect(t *testing.T) {
	pol := mustParse(t, zonePolicy)
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ name, region, now, release string }{
		// 06:30Z: New York is back on EST (01:30), Chicago still on CDT
		// (01:30); 08:00 CST is 14:00Z, not the 13:00Z of CDT.
		{"US-FL, fall back", "US-FL", "2026-11-01T06:30:00Z", "2026-11-01T14:00:00Z"},
		// 07:30Z: New York is on EDT (03:30), Chicago still on CST (01:30);
		// 08:00 CDT is 13:00Z.
		{"US-FL, spring forward", "US-FL", "2026-03-08T07:30:00Z", "2026-03-08T13:00:00Z"},
		// NSW starts summer time on 2026-10-04; Broken Hill (+09:30 to
		// +10:30) opens last, Lord Howe Island moves by 30 minutes only.
		{"AU-NSW, spring forward", "AU-NSW", "2026-10-03T16:30:00Z", "2026-10-03T21:30:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := pol.Evaluate(policy.Input{Intent: baseIntent(), Prefs: &hushv1.Preferences{Region: c.region}, Now: utc(c.now)})
			if want := utc(c.release); v.Outcome != deferred || !v.ReleaseAt.Equal(want) {
				t.Fatalf("%v to %v (%s), want deferred to %v", v.Outcome, v.ReleaseAt, v.Reason.Message, want)
			}
		})
	}
}

func TestZonePolicyErrors(t *testing.T) {
	const head = "version: v1\ncategories:\n  marketing: { class: marketing }\n"
	cases := []struct{ name, doc, want string }{
		{"unknown_zone send", head + "unknown_zone: send\n", `p.yaml:4: unknown_zone: want defer or suppress, got "send"`},
		{"fallback_region not a code", head + "fallback_region: Florida\n", `p.yaml:4: fallback_region: want an ISO 3166 code like US or US-FL`},
		{"fallback_region without zones", head + "fallback_region: ZZ\n", `p.yaml:4: fallback_region: no time zones are known for "ZZ"`},
		{"strict_zones not a bool", head + "quiet_hours:\n  strict_zones: often\n", `p.yaml:5:`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestDefaultPolicyNamesUnknownZone: the shipped policy says what happens
// when nothing tells a customer's zone, instead of relying on a default.
func TestDefaultPolicyNamesUnknownZone(t *testing.T) {
	if !strings.Contains(string(policyfiles.Default), "\nunknown_zone: ") {
		t.Error("deploy/policy/default.yaml does not set unknown_zone")
	}
}

// TestRegionZoneTable: every zone of the region table loads, every
// subdivision's zones are zones of its country, and the table covers the
// subdivisions whose zones matter most.
func TestRegionZoneTable(t *testing.T) {
	regions := policy.ZoneRegions()
	if len(regions) < 200 {
		t.Fatalf("%d regions in the table", len(regions))
	}
	for _, r := range regions {
		zones := policy.RegionZones(r)
		if len(zones) == 0 {
			t.Errorf("%s: no zones", r)
		}
		for _, z := range zones {
			if _, err := time.LoadLocation(z); err != nil {
				t.Errorf("%s: %v", r, err)
			}
		}
		if country, _, sub := strings.Cut(r, "-"); sub {
			all := policy.RegionZones(country)
			for _, z := range zones {
				if !contains(all, z) {
					t.Errorf("%s: zone %s is not a zone of %s (%v)", r, z, country, all)
				}
			}
		}
	}
	for r, want := range map[string][]string{
		"US-FL":  {"America/New_York", "America/Chicago"},
		"US-IN":  {"America/Indiana/Indianapolis", "America/Chicago"},
		"US-HI":  {"Pacific/Honolulu"},
		"CA-BC":  {"America/Vancouver", "America/Edmonton"},
		"AU-NSW": {"Australia/Sydney", "Australia/Broken_Hill"},
		"US":     {"America/New_York", "Pacific/Honolulu", "America/Adak"},
		"FR":     {"Europe/Paris"},
		"RU":     {"Europe/Kaliningrad", "Asia/Kamchatka"},
		"RU-MOW": {"Europe/Moscow"},
		"BR-PE":  {"America/Recife", "America/Noronha"},
		"MX-CHH": {"America/Chihuahua", "America/Ciudad_Juarez", "America/Ojinaga"},
	} {
		for _, z := range want {
			if !contains(policy.RegionZones(r), z) {
				t.Errorf("%s: %s missing from %v", r, z, policy.RegionZones(r))
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCustomerZoneCostsNoAllocation: the common case, a customer who set a
// zone, costs no allocation for quiet hours: an approval allocates only its
// cap checks, a deferral only its message too.
func TestCustomerZoneCostsNoAllocation(t *testing.T) {
	pol := mustParse(t, zonePolicy)
	prefs := &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-FL"}
	for _, c := range []struct {
		name string
		now  time.Time
		max  float64
	}{
		{"approved", time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC), 1},
		{"deferred", time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), 2},
	} {
		in := policy.Input{Intent: baseIntent(), Prefs: prefs, Now: c.now}
		pol.Evaluate(in) // warm the zone cache
		if n := testing.AllocsPerRun(100, func() { pol.Evaluate(in) }); n > c.max {
			t.Errorf("%s: %v allocations, want at most %v", c.name, n, c.max)
		}
	}
}

// BenchmarkEvaluateZones measures quiet hours per way of knowing the zone:
// go test -run '^$' -bench EvaluateZones -benchmem ./internal/core/policy
func BenchmarkEvaluateZones(b *testing.B) {
	pol := mustParse(b, zonePolicy)
	fallbackUS := mustParse(b, zoned("fallback_region: US\n"))
	night := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	withNumber := baseIntent()
	sms("+14155550100")(withNumber)
	cases := []struct {
		name  string
		pol   *policy.Policy
		it    *hushv1.ContactIntent
		prefs *hushv1.Preferences
	}{
		{"customer-zone", pol, baseIntent(), &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-FL"}},
		{"region-US-FL", pol, baseIntent(), &hushv1.Preferences{Region: "US-FL"}},
		{"region-US", pol, baseIntent(), &hushv1.Preferences{Region: "US"}},
		{"number", pol, withNumber, nil},
		{"region-and-number", pol, withNumber, &hushv1.Preferences{Region: "US-NY"}},
		{"fallback-region-US", fallbackUS, baseIntent(), nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			in := policy.Input{Intent: c.it, Prefs: c.prefs, Now: night}
			if v := c.pol.Evaluate(in); v.Outcome != deferred {
				b.Fatalf("outcome %v (%s), want deferred", v.Outcome, v.Reason.Message)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.pol.Evaluate(in)
			}
		})
	}
}

// TestWorkedExamplesOfZones keeps the rows of docs/policy.md's "Quiet hours
// in three places" about unknown zones true of the default policy.
func TestWorkedExamplesOfZones(t *testing.T) {
	pol, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 1, 30, 0, 0, time.UTC)
	v := pol.Evaluate(policy.Input{Intent: baseIntent(), Prefs: &hushv1.Preferences{Region: "US-FL"}, Now: now})
	if want := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC); v.Outcome != deferred || !v.ReleaseAt.Equal(want) {
		t.Errorf("US-FL without a zone: %v to %v, want deferred to %v", v.Outcome, v.ReleaseAt, want)
	}
	it := baseIntent()
	sms("+14155550100")(it)
	if v := pol.Evaluate(policy.Input{Intent: it, Now: now}); v.Outcome != approved {
		t.Errorf("a +1 415 number at 17:30 in San Francisco: %v (%s), want approved", v.Outcome, v.Reason.Message)
	}
}
