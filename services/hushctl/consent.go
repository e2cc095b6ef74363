package main

import (
	"fmt"
	"strings"

	"github.com/hush-oss/hush/internal/core/store"
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

// consentOnRecord follows the reasons of a decision that recorded consent
// or a STOP decided: what is on record for the customer now (the grants and
// revocations; prefs history says who recorded each, when and how).
func (a *app) consentOnRecord(st *store.Store, d *hushv1.Decision) error {
	relevant := false
	for _, r := range append(d.GetReasons(), d.GetShadowReasons()...) {
		switch r.GetCode() {
		case hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED, hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD:
			relevant = true
		}
	}
	if !relevant {
		return nil
	}
	p, _, err := st.Preferences(a.ctx, d.GetCustomerId())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nconsent on record now (hushctl prefs history %s shows who recorded it, when and how):\n", d.GetCustomerId())
	rows := consentRows(p)
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "  (none)")
	}
	for _, r := range rows {
		fmt.Fprintf(a.stdout, "  %s: %s\n", r[0], r[1])
	}
	return nil
}
