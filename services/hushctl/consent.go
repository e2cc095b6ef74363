package main

import (
	"fmt"
	"strings"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// consentRows are the rows prefs get shows for recorded consent and STOP
// revocations; none when there are none, so that customers without them
// read as before.
func consentRows(p *hushv1.Preferences) [][2]string {
	var rows [][2]string
	for _, g := range p.GetConsents() {
		rows = append(rows, [2]string{"consent given", grantString(g)})
	}
	for _, r := range p.GetRevocations() {
		rows = append(rows, [2]string{"revoked", revocationString(r)})
	}
	return rows
}

// grantString says what a grant covers and the proof of it: "newsletter on
// email, given 2026-11-30T09:15:00Z by verbal (wording nl-2026-10, source
// call-881)".
func grantString(g *hushv1.ConsentGrant) string {
	var b strings.Builder
	b.WriteString(orDash(g.GetCategory()))
	if g.GetCategory() == "" {
		b.Reset()
		b.WriteString("every category")
	}
	if g.GetChannel() != "" {
		b.WriteString(" on " + g.GetChannel())
	}
	if g.GetSubjectRef() != "" {
		b.WriteString(" for " + g.GetSubjectRef())
	}
	given := "-"
	if g.GetGivenAt() != nil {
		given = ts(g.GetGivenAt().AsTime())
	}
	fmt.Fprintf(&b, ", given %s by %s (wording %s, source %s)", given, orDash(g.GetMethod()), orDash(g.GetWordingVersion()), orDash(g.GetSource()))
	if g.GetWithdrawnAt() != nil {
		b.WriteString(", withdrawn " + ts(g.GetWithdrawnAt().AsTime()))
	}
	return b.String()
}

// revocationString: "sms from the whole company at ... by stop keyword
// (en), honour by ...".
func revocationString(r *hushv1.Revocation) string {
	scope := "the whole company"
	if r.GetService() != "" {
		scope = r.GetService()
	}
	s := fmt.Sprintf("%s from %s at %s via %s", r.GetChannel(), scope, ts(r.GetAt().AsTime()), orDash(r.GetVia()))
	if r.GetLanguage() != "" {
		s += " (" + r.GetLanguage() + ")"
	}
	if r.GetHonourBy() != nil {
		s += ", honour by " + ts(r.GetHonourBy().AsTime())
	}
	return s
}
