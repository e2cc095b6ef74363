package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// conformancePolicy composes every shipped pack with a business policy that
// has no rules of its own that could decide first (no quiet hours, no caps).
const conformancePolicy = `
version: conformance
categories:
  collections: { class: service }
  marketing:   { class: service }
  canvassing:  { class: marketing }
packs:
  - { name: us-tcpa,            categories: [marketing] }
  - { name: us-state-mini-tcpa, categories: [marketing] }
  - { name: us-reg-f,           categories: [collections] }
  - { name: fr-demarchage,      categories: [canvassing] }
`

// pastEvent is an inbound event recorded before the row's intent.
type pastEvent struct{ kind, subject, at string }

// conformanceRow is one row of a pack's conformance table: the customer,
// what happened before (contacts approved, inbound events), the intent and
// the decision the law asks for, with the section of the law it checks.
type conformanceRow struct {
	section, name string
	zone, region  string // the customer's time zone and region ("" unknown)
	// noSubject: the intent names no subject_ref (the earlier contacts do).
	noSubject bool
	// zoneUnknown keeps the zone out of the customer's preferences (it
	// still reads the row's times): the candidate zones come from the region.
	zoneUnknown bool
	category    string
	channel     string
	subject     string
	// before are the local times of earlier contacts like the intent
	// (same channel and subject unless beforeSubject/beforeChannel say
	// otherwise); each must be approved.
	before                       []string
	beforeSubject, beforeChannel string
	events                       []pastEvent
	// consentAt records the customer's consent, given at that local time,
	// for the intent's category and subject.
	consentAt string
	at        string // local time of the intent
	want      hushv1.Outcome
	rule      string // the rule that decides ("" when approved)
	code      hushv1.ReasonCode
	release   string // for deferrals: the local release time
}

// Times in rows are local, in the row's zone: "2006-01-02 15:04:05".
func local(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

var (
	approved   = hushv1.Outcome_OUTCOME_APPROVED
	suppressed = hushv1.Outcome_OUTCOME_SUPPRESSED
	deferred   = hushv1.Outcome_OUTCOME_DEFERRED
	hoursCode  = hushv1.ReasonCode_REASON_CODE_OUTSIDE_CONTACT_HOURS
	dayCode    = hushv1.ReasonCode_REASON_CODE_NO_CONTACT_DAY
	capCode    = hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP
	coolCode   = hushv1.ReasonCode_REASON_CODE_COOLDOWN
)

// sevenDays are calls at noon on seven consecutive days, Mon 16 to Sun 22
// November 2026.
var sevenDays = []string{"2026-11-16 12:00:00", "2026-11-17 12:00:00", "2026-11-18 12:00:00", "2026-11-19 12:00:00",
	"2026-11-20 12:00:00", "2026-11-21 12:00:00", "2026-11-22 12:00:00"}

func regF(r conformanceRow) conformanceRow {
	r.category, r.zone, r.region = "collections", "America/New_York", "US-NY"
	if r.channel == "" {
		r.channel = "voice"
	}
	if r.subject == "" {
		r.subject = "debt-1"
	}
	return r
}

var regFRows = []conformanceRow{
	regF(conformanceRow{section: "12 CFR 1006.6(b)(1)(i)", name: "20:59:59 local is not inconvenient", at: "2026-11-23 20:59:59", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.6(b)(1)(i)", name: "21:00:00 local is inconvenient: deferred to 08:00", at: "2026-11-23 21:00:00",
		want: deferred, rule: "us-reg-f.inconvenient-hours", code: hoursCode, release: "2026-11-24 08:00:00"}),
	regF(conformanceRow{section: "12 CFR 1006.6(b)(1)(i)", name: "07:59:59 local is inconvenient", at: "2026-11-23 07:59:59",
		want: deferred, rule: "us-reg-f.inconvenient-hours", code: hoursCode, release: "2026-11-23 08:00:00"}),
	regF(conformanceRow{section: "12 CFR 1006.6(b)(1)(i)", name: "an email at 21:30 is a communication too", channel: "email", at: "2026-11-23 21:30:00",
		want: deferred, rule: "us-reg-f.inconvenient-hours", code: hoursCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "the 8th call within 7 consecutive days", before: sevenDays, at: "2026-11-22 15:00:00",
		want: suppressed, rule: "us-reg-f.call-frequency", code: capCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "the 7th call within 7 consecutive days", before: sevenDays[:6], at: "2026-11-22 15:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "day 8: the first day's call has left the 7 days", before: sevenDays, at: "2026-11-23 08:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "calendar days, not 168 hours: 7 calls on day 1, a call on day 8 at 08:00",
		before: []string{"2026-11-16 10:00:00", "2026-11-16 10:10:00", "2026-11-16 10:20:00", "2026-11-16 10:30:00", "2026-11-16 10:40:00", "2026-11-16 10:50:00", "2026-11-16 11:00:00"},
		at:     "2026-11-23 08:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "7 calls on day 1, a call on day 7 at 20:00",
		before: []string{"2026-11-16 10:00:00", "2026-11-16 10:10:00", "2026-11-16 10:20:00", "2026-11-16 10:30:00", "2026-11-16 10:40:00", "2026-11-16 10:50:00", "2026-11-16 11:00:00"},
		at:     "2026-11-22 20:00:00", want: suppressed, rule: "us-reg-f.call-frequency", code: capCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "calls are counted per debt: another debt's 8th call", before: sevenDays, beforeSubject: "debt-2",
		at: "2026-11-22 15:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "a call naming no debt counts every call (fail closed)", before: sevenDays,
		noSubject: true, at: "2026-11-22 15:00:00", want: suppressed, rule: "us-reg-f.call-frequency", code: capCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "texts are not counted and not limited by the rule", before: sevenDays, beforeChannel: "sms",
		at: "2026-11-22 15:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(A)", name: "a text after 7 calls is not a call", before: sevenDays, channel: "sms", beforeChannel: "voice",
		at: "2026-11-22 15:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(3)(i)", name: "consent given directly 2 days before lifts the limit", before: sevenDays,
		consentAt: "2026-11-20 09:00:00", at: "2026-11-22 15:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(3)(i)", name: "consent given 8 days before no longer does", before: sevenDays,
		consentAt: "2026-11-14 09:00:00", at: "2026-11-22 15:00:00", want: suppressed, rule: "us-reg-f.call-frequency", code: capCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(B)", name: "day 7 after a conversation (its day is day 1)",
		events: []pastEvent{{"conversation", "debt-1", "2026-11-16 10:00:00"}}, at: "2026-11-22 20:00:00",
		want: suppressed, rule: "us-reg-f.after-conversation", code: coolCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(B)", name: "day 8 after a conversation, at 08:00",
		events: []pastEvent{{"conversation", "debt-1", "2026-11-16 20:00:00"}}, at: "2026-11-23 08:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(B)", name: "a conversation about another debt",
		events: []pastEvent{{"conversation", "debt-2", "2026-11-20 10:00:00"}}, at: "2026-11-21 10:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(B)", name: "a text the day after a conversation",
		events: []pastEvent{{"conversation", "debt-1", "2026-11-20 10:00:00"}}, channel: "sms", at: "2026-11-21 10:00:00", want: approved}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(B)", name: "DST: day 7 across the end of daylight time",
		events: []pastEvent{{"conversation", "debt-1", "2026-10-31 20:00:00"}}, at: "2026-11-06 20:59:00",
		want: suppressed, rule: "us-reg-f.after-conversation", code: coolCode}),
	regF(conformanceRow{section: "12 CFR 1006.14(b)(2)(i)(B)", name: "DST: day 8 at 08:00 EST, 11 hours short of 7x24h",
		events: []pastEvent{{"conversation", "debt-1", "2026-10-31 20:00:00"}}, at: "2026-11-07 08:00:00", want: approved}),
	{section: "12 CFR 1006.6(b)(1)(i)", name: "zones disagree (US-FL: New York and Chicago): 21:30 in New York", category: "collections", channel: "voice",
		want: deferred, rule: "us-reg-f.inconvenient-hours", code: hoursCode, release: "2026-11-24 09:00:00",
		subject: "debt-1", zone: "America/New_York", zoneUnknown: true, region: "US-FL", at: "2026-11-23 21:30:00"},
	{section: "12 CFR 1006.6(b)(1)(i)", name: "zones disagree (US-FL): 08:30 in New York is 07:30 in Chicago", category: "collections", channel: "voice",
		subject: "debt-1", zone: "America/New_York", zoneUnknown: true, region: "US-FL", at: "2026-11-24 08:30:00",
		want: deferred, rule: "us-reg-f.inconvenient-hours", code: hoursCode, release: "2026-11-24 09:00:00"},
}

func tcpa(r conformanceRow) conformanceRow {
	r.category, r.subject = "marketing", "offer-1"
	if r.zone == "" {
		r.zone, r.region = "America/Los_Angeles", "US-CA"
	}
	if r.channel == "" {
		r.channel = "voice"
	}
	return r
}

var tcpaRows = []conformanceRow{
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "20:59:59 local", at: "2026-11-23 20:59:59", want: approved}),
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "21:00:00 local", at: "2026-11-23 21:00:00",
		want: deferred, rule: "us-tcpa.calling-hours", code: hoursCode, release: "2026-11-24 08:00:00"}),
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "07:59:59 local, a text", channel: "sms", at: "2026-11-23 07:59:59",
		want: deferred, rule: "us-tcpa.calling-hours", code: hoursCode, release: "2026-11-23 08:00:00"}),
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "08:00:00 local", at: "2026-11-23 08:00:00", want: approved}),
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "DST starts: 07:59:59 PDT", at: "2026-03-08 07:59:59",
		want: deferred, rule: "us-tcpa.calling-hours", code: hoursCode, release: "2026-03-08 08:00:00"}),
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "DST ends: 20:59:59 PST", at: "2026-11-01 20:59:59", want: approved}),
	tcpa(conformanceRow{section: "47 CFR 64.1200(c)(1)", name: "email is not a call", channel: "email", at: "2026-11-23 22:00:00", want: approved}),
}

func state(r conformanceRow) conformanceRow {
	r.category = "marketing"
	if r.subject == "" {
		r.subject = "offer-1"
	}
	if r.channel == "" {
		r.channel = "sms"
	}
	return r
}

var stateRows = []conformanceRow{
	state(conformanceRow{section: "Fla. Stat. 501.059(8)(a)", name: "19:59:59 in Florida", zone: "America/New_York", region: "US-FL", at: "2026-11-23 19:59:59", want: approved}),
	state(conformanceRow{section: "Fla. Stat. 501.059(8)(a)", name: "20:00:00 in Florida", zone: "America/New_York", region: "US-FL", at: "2026-11-23 20:00:00",
		want: deferred, rule: "us-state-mini-tcpa.fl-hours", code: hoursCode, release: "2026-11-24 08:00:00"}),
	state(conformanceRow{section: "Fla. Stat. 501.059(8)(a)", name: "the 4th text on one subject in 24 hours", zone: "America/New_York", region: "US-FL",
		before: []string{"2026-11-23 09:00:00", "2026-11-23 10:00:00", "2026-11-23 11:00:00"}, at: "2026-11-23 12:00:00",
		want: suppressed, rule: "us-state-mini-tcpa.fl-same-subject", code: capCode}),
	state(conformanceRow{section: "Fla. Stat. 501.059(8)(a)", name: "calls and texts count together", zone: "America/New_York", region: "US-FL", channel: "voice",
		before: []string{"2026-11-23 09:00:00", "2026-11-23 10:00:00", "2026-11-23 11:00:00"}, beforeChannel: "sms", at: "2026-11-23 12:00:00",
		want: suppressed, rule: "us-state-mini-tcpa.fl-same-subject", code: capCode}),
	state(conformanceRow{section: "Fla. Stat. 501.059(8)(a)", name: "the 4th text on another subject", zone: "America/New_York", region: "US-FL",
		before: []string{"2026-11-23 09:00:00", "2026-11-23 10:00:00", "2026-11-23 11:00:00"}, beforeSubject: "offer-2", at: "2026-11-23 12:00:00", want: approved}),
	state(conformanceRow{section: "Fla. Stat. 501.059(8)(a)", name: "24 hours after the first of three", zone: "America/New_York", region: "US-FL",
		before: []string{"2026-11-23 09:00:00", "2026-11-23 10:00:00", "2026-11-23 11:00:00"}, at: "2026-11-24 09:00:00", want: approved}),
	state(conformanceRow{section: "15 Okla. Stat. 775C.4(A)(4)", name: "the 4th call on one subject in Oklahoma", zone: "America/Chicago", region: "US-OK", channel: "voice",
		before: []string{"2026-11-23 09:00:00", "2026-11-23 10:00:00", "2026-11-23 11:00:00"}, at: "2026-11-23 12:00:00",
		want: suppressed, rule: "us-state-mini-tcpa.ok-same-subject", code: capCode}),
	state(conformanceRow{section: "Md. Code, Com. Law 14-4504(a)(2)", name: "20:00:00 in Maryland", zone: "America/New_York", region: "US-MD", at: "2026-11-23 20:00:00",
		want: deferred, rule: "us-state-mini-tcpa.md-hours", code: hoursCode}),
	state(conformanceRow{section: "Ala. Code 8-19C-4", name: "a Sunday in Alabama", zone: "America/Chicago", region: "US-AL", at: "2026-11-29 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.al-sundays-holidays", code: dayCode, release: "2026-11-30 08:00:00"}),
	state(conformanceRow{section: "Ala. Code 8-19C-4", name: "Thanksgiving in Alabama", zone: "America/Chicago", region: "US-AL", at: "2026-11-26 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.al-sundays-holidays", code: dayCode, release: "2026-11-27 08:00:00"}),
	state(conformanceRow{section: "Ala. Code 8-19C-4", name: "a Monday in Alabama", zone: "America/Chicago", region: "US-AL", at: "2026-11-30 12:00:00", want: approved}),
	state(conformanceRow{section: "La. R.S. 45:844.17", name: "a Sunday in Louisiana", zone: "America/Chicago", region: "US-LA", at: "2026-11-29 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.la-sundays-holidays", code: dayCode}),
	state(conformanceRow{section: "Miss. Code 77-3-725", name: "a Sunday in Mississippi", zone: "America/Chicago", region: "US-MS", at: "2026-11-29 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.ms-sundays", code: dayCode}),
	state(conformanceRow{section: "Miss. Code 77-3-725", name: "Thanksgiving in Mississippi (Sundays only)", zone: "America/Chicago", region: "US-MS", at: "2026-11-26 12:00:00", want: approved}),
	state(conformanceRow{section: "R.I. Gen. Laws 5-61-3.4(a)(1)", name: "17:59:59 on a weekday in Rhode Island", zone: "America/New_York", region: "US-RI", at: "2026-11-23 17:59:59", want: approved}),
	state(conformanceRow{section: "R.I. Gen. Laws 5-61-3.4(a)(1)", name: "18:00:00 on a weekday in Rhode Island", zone: "America/New_York", region: "US-RI", at: "2026-11-23 18:00:00",
		want: deferred, rule: "us-state-mini-tcpa.ri-hours", code: hoursCode, release: "2026-11-24 09:00:00"}),
	state(conformanceRow{section: "R.I. Gen. Laws 5-61-3.4(a)(1)", name: "Christmas in Rhode Island", zone: "America/New_York", region: "US-RI", at: "2026-12-25 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.ri-hours", code: dayCode, release: "2026-12-26 10:00:00"}),
	state(conformanceRow{section: "R.I. Gen. Laws 5-61-3.4(a)(1)", name: "Independence Day observed on Friday 3 July 2026", zone: "America/New_York", region: "US-RI", at: "2026-07-03 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.ri-hours", code: dayCode, release: "2026-07-06 09:00:00"}),
	state(conformanceRow{section: "Ala. Code 8-19C-4", name: "region unknown: every state's rules apply (fail closed)", zone: "America/Chicago", at: "2026-11-29 12:00:00",
		want: deferred, rule: "us-state-mini-tcpa.al-sundays-holidays", code: dayCode}),
	state(conformanceRow{section: "Ala. Code 8-19C-4", name: "a Sunday in California: no state rule", zone: "America/Los_Angeles", region: "US-CA", at: "2026-11-29 12:00:00", want: approved}),
}

func france(r conformanceRow) conformanceRow {
	r.category, r.zone, r.region, r.channel = "canvassing", "Europe/Paris", "FR", "voice"
	return r
}

var franceRows = []conformanceRow{
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Monday 12:59:59", at: "2026-11-23 12:59:59", want: approved}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Monday 13:00:00: deferred to 14:00", at: "2026-11-23 13:00:00",
		want: deferred, rule: "fr-demarchage.calling-days-hours", code: hoursCode, release: "2026-11-23 14:00:00"}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Monday 09:59:59", at: "2026-11-23 09:59:59",
		want: deferred, rule: "fr-demarchage.calling-days-hours", code: hoursCode, release: "2026-11-23 10:00:00"}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Friday 20:00:00: deferred to Monday 10:00", at: "2026-11-27 20:00:00",
		want: deferred, rule: "fr-demarchage.calling-days-hours", code: hoursCode, release: "2026-11-30 10:00:00"}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Saturday 11:00", at: "2026-11-28 11:00:00",
		want: deferred, rule: "fr-demarchage.calling-days-hours", code: dayCode, release: "2026-11-30 10:00:00"}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Christmas (a Friday), a public holiday", at: "2026-12-25 11:00:00",
		want: deferred, rule: "fr-demarchage.calling-days-hours", code: dayCode, release: "2026-12-28 10:00:00"}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "Ascension Thursday, a movable holiday", at: "2026-05-14 11:00:00",
		want: deferred, rule: "fr-demarchage.calling-days-hours", code: dayCode, release: "2026-05-15 10:00:00"}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 1", name: "DST: the Monday after summer time starts, 10:00 CEST", at: "2026-03-30 10:00:00", want: approved}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 2", name: "express prior consent: a Saturday call", consentAt: "2026-11-01 10:00:00",
		at: "2026-11-28 11:00:00", want: approved}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 3", name: "the 5th attempt within 30 calendar days",
		before: []string{"2026-11-02 11:00:00", "2026-11-09 11:00:00", "2026-11-16 11:00:00", "2026-11-23 11:00:00"}, at: "2026-12-01 11:00:00",
		want: suppressed, rule: "fr-demarchage.attempts", code: capCode}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 3", name: "day 31 after the first of four",
		before: []string{"2026-11-02 11:00:00", "2026-11-09 11:00:00", "2026-11-16 11:00:00", "2026-11-23 11:00:00"}, at: "2026-12-02 10:00:00", want: approved}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 3", name: "60 full days after a refusal: still closed",
		events: []pastEvent{{"refusal", "", "2026-09-03 11:00:00"}}, at: "2026-11-02 19:00:00",
		want: suppressed, rule: "fr-demarchage.after-refusal", code: coolCode}),
	france(conformanceRow{section: "C. consom. art. D. 223-9, al. 3", name: "the day after the 60 full days",
		events: []pastEvent{{"refusal", "", "2026-09-03 11:00:00"}}, at: "2026-11-03 10:00:00", want: approved}),
}

// TestPackConformance runs every pack's conformance table end to end on a
// real Redis: the packs are loaded from deploy/policy/packs and composed in
// a policy, earlier contacts are decided and counted, inbound events are
// recorded as the gatekeeper records them, and the row's intent is decided.
// Each row names the section of the law it checks.
func TestPackConformance(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	pol := parse(t, conformancePolicy)
	tables := map[string][]conformanceRow{"us-reg-f": regFRows, "us-tcpa": tcpaRows, "us-state-mini-tcpa": stateRows, "fr-demarchage": franceRows}
	for pack, rows := range tables {
		for i, row := range rows {
			t.Run(pack+"/"+row.section+"/"+row.name, func(t *testing.T) {
				checkRow(t, st, pol, fmt.Sprintf("%s-%d", pack, i), row)
			})
		}
	}
}

func checkRow(t *testing.T, st *store.Store, pol *policy.Policy, customer string, row conformanceRow) {
	ctx := context.Background()
	prefs := &hushv1.Preferences{TimeZone: row.zone, Region: row.region}
	if row.zoneUnknown {
		prefs.TimeZone = ""
	}
	if row.consentAt != "" {
		prefs.Consents = []*hushv1.ConsentGrant{{Category: row.category, SubjectRef: row.subject, Method: "verbal",
			GivenAt: timestamppb.New(local(t, row.zone, row.consentAt))}}
	}
	version, _, err := st.SetPreferences(ctx, customer, prefs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range row.events {
		at := local(t, row.zone, e.at)
		in := &hushv1.InboundContact{CustomerId: customer, Channel: "voice", ThreadId: fmt.Sprint("call-", i), Kind: e.kind, SubjectRef: e.subject}
		if err := st.RecordEvent(ctx, in, at, at, pol.EventRetention); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, channel, subject string) *hushv1.ContactIntent {
		return &hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: channel, Category: row.category,
			SubjectRef: subject, Sender: &hushv1.Sender{Service: "collector"}}
	}
	for i, b := range row.before {
		ch, subj := row.channel, row.subject
		if row.beforeChannel != "" {
			ch = row.beforeChannel
		}
		if row.beforeSubject != "" {
			subj = row.beforeSubject
		}
		d, _, err := tryDecide(st, pol, mk(fmt.Sprint("before-", i), ch, subj), local(t, row.zone, b), prefs, version)
		if err != nil {
			t.Fatal(err)
		}
		if d.GetOutcome() != approved {
			t.Fatalf("earlier contact at %s: %s %v, want approved", b, d.GetOutcome(), d.GetReasons())
		}
	}
	subject := row.subject
	if row.noSubject {
		subject = ""
	}
	d, _, err := tryDecide(st, pol, mk("row", row.channel, subject), local(t, row.zone, row.at), prefs, version)
	if err != nil {
		t.Fatal(err)
	}
	if d.GetOutcome() != row.want {
		t.Fatalf("%s at %s: %s %v, want %s", row.section, row.at, d.GetOutcome(), d.GetReasons(), row.want)
	}
	if row.want == approved {
		return
	}
	if len(d.GetReasons()) != 1 {
		t.Fatalf("reasons %v, want one", d.GetReasons())
	}
	reason := d.GetReasons()[0]
	if reason.GetRule() != row.rule || reason.GetCode() != row.code {
		t.Fatalf("decided by %s (%s): %s; want %s (%s)", reason.GetRule(), reason.GetCode(), reason.GetMessage(), row.rule, row.code)
	}
	if reason.GetPack() == "" || reason.GetPackVersion() == "" || reason.GetSection() == "" {
		t.Fatalf("reason %v does not name the pack, its version and the section", reason)
	}
	if reason.GetPack()+"." != row.rule[:len(reason.GetPack())+1] {
		t.Fatalf("reason names pack %q for rule %q", reason.GetPack(), row.rule)
	}
	if row.release != "" {
		if got, want := d.GetReleaseAt().AsTime(), local(t, row.zone, row.release); !got.Equal(want) {
			t.Fatalf("released at %s, want %s (%s)", got.In(want.Location()), want, reason.GetMessage())
		}
	}
	t.Logf("%s: %s", reason.GetSection(), reason.GetMessage())
}

// BenchmarkDecidePacks measures one decision's store call for a Regulation
// F collection call (a per-subject calendar cap and a cooldown read from the
// customer's events), customers rotating over 1,000, each with a recorded
// conversation about another debt: go test -run '^$' -bench DecidePacks ./internal/core/store
func BenchmarkDecidePacks(b *testing.B) {
	pol, err := policy.Parse("bench.yaml", []byte(conformancePolicy))
	if err != nil {
		b.Fatal(err)
	}
	r := testenv.StartRedis(b, testenv.RedisOptions{Private: true})
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	prefs := &hushv1.Preferences{TimeZone: "America/New_York", Region: "US-NY"}
	start := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	for i := range 1000 {
		in := &hushv1.InboundContact{CustomerId: fmt.Sprint("c-", i), Channel: "voice", ThreadId: "t", Kind: "conversation", SubjectRef: "debt-0"}
		if err := st.RecordEvent(ctx, in, start.Add(-time.Hour), start, pol.EventRetention); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		now := start.Add(time.Duration(n) * time.Millisecond)
		it := &hushv1.ContactIntent{Id: fmt.Sprint("bench-", n), CustomerId: fmt.Sprint("c-", n%1000), Channel: "voice",
			Category: "collections", SubjectRef: fmt.Sprint("debt-", 1+n%3), Sender: &hushv1.Sender{Service: "collector"}}
		v := pol.Evaluate(policy.Input{Intent: it, Prefs: prefs, Now: now})
		if _, err := st.Decide(ctx, store.DecideRequest{Intent: it, Now: now, Verdict: &v, Decision: pol.Decision(it, &v, now, ""),
			DecisionRetention: pol.DecisionRetention, LedgerRetention: pol.LedgerRetention}); err != nil {
			b.Fatal(err)
		}
	}
}
