package policy

import (
	"slices"
	"strings"
	"time"
	"unicode"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// NormaliseKeyword is how STOP keywords and message bodies are compared:
// lower case, with every space and punctuation mark removed, so that
// "Opt-Out!", " opt out " and "OPTOUT" are one keyword. Letters keep their
// accents ("arrêt" and "arret" are listed apart).
func NormaliseKeyword(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// MatchStop reports whether an inbound message on a channel is a STOP
// keyword, and in which language: its whole body, normalised, must be one
// of the policy's keywords ("please stop the offers" is not). Only the
// channels of consent.stop.channels are read. The body is never kept.
func (p *Policy) MatchStop(channel, body string) (language string, ok bool) {
	st := &p.consent.stop
	if !slices.Contains(st.channels, channel) || len(body) > maxStopBody {
		return "", false
	}
	language, ok = st.keywords[NormaliseKeyword(body)]
	return language, ok
}

// maxStopBody bounds the body read for a keyword: a keyword is a word or
// two, and a long body is never one.
const maxStopBody = 160

// revocationFor finds the customer's latest revocation that covers the
// intent: its channel, and the intent's sender or the whole company.
func revocationFor(prefs *hushv1.Preferences, it *hushv1.ContactIntent) *hushv1.Revocation {
	var found *hushv1.Revocation
	for _, r := range prefs.GetRevocations() {
		if r.GetChannel() != it.GetChannel() || r.GetService() != "" && r.GetService() != it.GetSender().GetService() {
			continue
		}
		if found == nil || r.GetAt().AsTime().After(found.GetAt().AsTime()) {
			found = r
		}
	}
	return found
}

// confirming reports whether the intent is the confirmation of revocation
// r: the policy's confirmation category, within its time after the STOP.
func (p *Policy) confirming(s subject, r *hushv1.Revocation) bool {
	st := &p.consent.stop
	if st.confirmation == "" || s.it.GetCategory() != st.confirmation || r == nil {
		return false
	}
	at := r.GetAt().AsTime()
	return !s.now.Before(at) && s.now.Before(at.Add(st.within))
}

// stopKeyword refuses every contact on a channel the customer revoked with
// a STOP keyword, from the revocation's sender scope, except the one
// confirmation (counted by stopConfirmation). A confirmation with no STOP
// to confirm is refused too: the category exists only for that message.
func stopKeyword(p *Policy, s subject) (objection, bool) {
	r := revocationFor(s.prefs, s.it)
	if p.confirming(s, r) {
		return objection{}, false
	}
	if r == nil {
		if conf := p.consent.stop.confirmation; conf != "" && s.it.GetCategory() == conf {
			return objection{code: hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD,
				message: conf + " confirms a STOP keyword, and the customer sent none on " + s.it.GetChannel() + " in the last " + HumanWindow(p.consent.stop.within)}, true
		}
		return objection{}, false
	}
	scope := "the whole company"
	if r.GetService() != "" {
		scope = r.GetService()
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD,
		message: "customer revoked " + r.GetChannel() + " contacts from " + scope + " (" + orVia(r.GetVia()) + ") " + Stamp(r.GetAt().AsTime())}, true
}

func orVia(v string) string {
	if v == "" {
		return "revocation"
	}
	return strings.ReplaceAll(v, "_", " ")
}

// stopConfirmation counts the confirmation a STOP allows: at most one
// contact of the confirmation category since the STOP, checked and counted
// by the store in the same step as the decision, so that two confirmations
// racing on two replicas cannot both pass.
func stopConfirmation(p *Policy, s subject, caps []CapCheck) []CapCheck {
	r := revocationFor(s.prefs, s.it)
	if !p.confirming(s, r) {
		return caps
	}
	// The window reaches back to the STOP itself (a millisecond more: the
	// ledger counts contacts strictly inside the window).
	since := s.now.Sub(r.GetAt().AsTime()) + time.Millisecond
	return append(caps, CapCheck{Rule: RuleStopConfirmation, Scope: ScopeCategory, Value: p.consent.stop.confirmation,
		Window: since, Max: 1, Shadow: p.rules[RuleStopConfirmation] == Shadow,
		Code: hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD})
}
