package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Rule ids of recorded consent and STOP keywords (see consent.go, stop.go).
const (
	// RuleConsentRequired refuses a category marked requires_consent
	// without a recorded opt-in grant that covers the intent.
	RuleConsentRequired = "consent.required"
	// RuleStopKeyword refuses contacts on a channel the customer sent a
	// STOP keyword on, from the sender scope it named.
	RuleStopKeyword = "stop_keyword"
	// RuleStopConfirmation lets exactly one confirmation through after a
	// STOP: a counted check of at most one confirmation since the STOP.
	RuleStopConfirmation = "stop_keyword.confirmation"
)

// Defaults of the consent section.
const (
	// DefaultConfirmationWithin is how long after a STOP its one
	// confirmation may be sent (47 CFR 64.1200(a)(12): five minutes).
	DefaultConfirmationWithin = 5 * time.Minute
	// DefaultHonourBusinessDays is the legal deadline for honouring a
	// revocation that the history records (47 CFR 64.1200(a)(10): ten
	// business days). Hush honours it at once.
	DefaultHonourBusinessDays = 10
)

// DefaultStopKeywords are the STOP keywords of the English list, as the
// FCC names them; a policy adds languages or replaces a list.
var DefaultStopKeywords = []string{"stop", "quit", "end", "revoke", "opt out", "cancel", "unsubscribe"}

// consentPolicy is the consent section, compiled.
type consentPolicy struct {
	// required are the categories marked requires_consent.
	required map[string]bool
	// revokeAll: a withdrawal through the API covers every grant.
	revokeAll bool
	stop      stopPolicy
}

// stopPolicy says how STOP keywords are recognised and confirmed.
type stopPolicy struct {
	// channels are those whose inbound messages are read for keywords.
	channels []string
	// keywords maps a normalised keyword to its language.
	keywords map[string]string
	// languages are the keyword lists' languages, sorted.
	languages []string
	// confirmation is the category of the one confirmation allowed after
	// a STOP; "" allows none.
	confirmation string
	within       time.Duration
	honourDays   int
}

type rawConsent struct {
	RevokeAll *bool    `yaml:"revoke_all"`
	Stop      *rawStop `yaml:"stop"`
}

type rawStop struct {
	Channels           []string            `yaml:"channels"`
	Keywords           map[string][]string `yaml:"keywords"`
	Confirmation       *rawConfirmation    `yaml:"confirmation"`
	HonourBusinessDays *int                `yaml:"honour_business_days"`
}

type rawConfirmation struct {
	Category string `yaml:"category"`
	Within   string `yaml:"within"`
}

// RequiresConsent reports whether the policy marks a category as needing
// recorded opt-in consent.
func (p *Policy) RequiresConsent(category string) bool { return p.consent.required[category] }

// RevokeAll reports whether a withdrawal of consent through the API
// withdraws every grant of the customer (all categories), rather than the
// grants of the category it names (consent.revoke_all).
func (p *Policy) RevokeAll() bool { return p.consent.revokeAll }

// StopConfirmation is the category of the one confirmation allowed after a
// STOP ("" when none is) and how long after the STOP it may be sent.
func (p *Policy) StopConfirmation() (category string, within time.Duration) {
	return p.consent.stop.confirmation, p.consent.stop.within
}

// HonourBy is the legal deadline for honouring a revocation made at: the
// policy's number of business days later (Monday to Friday, in UTC; public
// holidays are not counted out).
func (p *Policy) HonourBy(at time.Time) time.Time {
	return AddBusinessDays(at, p.consent.stop.honourDays)
}

// AddBusinessDays adds n business days (Monday to Friday) to t, in UTC.
func AddBusinessDays(t time.Time, n int) time.Time {
	t = t.UTC()
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}

// grantCovers reports whether a consent grant in force at now covers an
// intent: its category (or any, when the grant names only a channel), its
// channel (or any), its subject (or any).
func grantCovers(g *hushv1.ConsentGrant, it *hushv1.ContactIntent, now time.Time) bool {
	switch {
	case g.GetGivenAt() == nil || now.Before(g.GetGivenAt().AsTime()):
		return false
	case g.GetWithdrawnAt() != nil && !now.Before(g.GetWithdrawnAt().AsTime()):
		return false
	case g.GetCategory() != it.GetCategory() && !(g.GetCategory() == "" && g.GetChannel() != ""):
		return false
	case g.GetChannel() != "" && g.GetChannel() != it.GetChannel():
		return false
	}
	return g.GetSubjectRef() == "" || g.GetSubjectRef() == it.GetSubjectRef()
}

// consentRequired refuses a category that requires recorded opt-in consent
// when no grant in force covers the intent. It applies without preferences
// too: a customer Hush knows nothing of has given no consent.
func consentRequired(p *Policy, s subject) (objection, bool) {
	cat := s.it.GetCategory()
	if !p.consent.required[cat] {
		return objection{}, false
	}
	withdrawn := time.Time{}
	for _, g := range s.prefs.GetConsents() {
		if grantCovers(g, s.it, s.now) {
			return objection{}, false
		}
		if w := g.GetWithdrawnAt(); w != nil && g.GetCategory() == cat && w.AsTime().After(withdrawn) {
			withdrawn = w.AsTime()
		}
	}
	msg := cat + " contacts need the customer's recorded opt-in consent on " + s.it.GetChannel() + "; none is recorded"
	if !withdrawn.IsZero() {
		msg = cat + " contacts need the customer's recorded opt-in consent; it was withdrawn " + Stamp(withdrawn)
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED, message: msg}, true
}

// consent compiles the consent section and the categories' requires_consent.
func (c *compiler) consent(p *Policy, cats map[string]rawCategory, r *rawConsent) {
	p.consent.required = map[string]bool{}
	for name, cat := range cats {
		if !cat.RequiresConsent {
			continue
		}
		if Class(cat.Class) == ClassCritical {
			c.fail("critical contacts never wait for consent", "categories", name, "requires_consent")
		}
		p.consent.required[name] = true
	}
	if r == nil {
		r = &rawConsent{}
	}
	if r.RevokeAll != nil {
		p.consent.revokeAll = *r.RevokeAll
	}
	c.stop(p, cats, r.Stop)
}

// stop compiles consent.stop: the channels read for keywords (sms), the
// keyword lists by language (English by default), the confirmation and the
// honour deadline.
func (c *compiler) stop(p *Policy, cats map[string]rawCategory, r *rawStop) {
	if r == nil {
		r = &rawStop{}
	}
	st := stopPolicy{channels: []string{"sms"}, keywords: map[string]string{}, within: DefaultConfirmationWithin, honourDays: DefaultHonourBusinessDays}
	if r.Channels != nil {
		st.channels = nil
		for j, ch := range r.Channels {
			if !IsChannel(ch) {
				c.fail(fmt.Sprintf("unknown channel %q (want one of %s)", ch, strings.Join(Channels, ", ")), "consent", "stop", "channels", j)
			}
			st.channels = append(st.channels, ch)
		}
	}
	lists := map[string][]string{"en": DefaultStopKeywords}
	for lang, words := range r.Keywords {
		lists[lang] = words
	}
	for lang := range lists {
		st.languages = append(st.languages, lang)
	}
	sort.Strings(st.languages)
	for _, lang := range st.languages {
		if !validLanguage(lang) {
			c.fail("want a language code like en, fr or es-MX", "consent", "stop", "keywords", lang)
		}
		if len(lists[lang]) == 0 {
			c.fail("required: at least one keyword (a language without keywords recognises nothing)", "consent", "stop", "keywords", lang)
		}
		for j, w := range lists[lang] {
			n := NormaliseKeyword(w)
			if n == "" {
				c.fail(fmt.Sprintf("keyword %q has no letters or digits", w), "consent", "stop", "keywords", lang, j)
				continue
			}
			if _, dup := st.keywords[n]; !dup {
				st.keywords[n] = lang // the first language in sorted order names it
			}
		}
	}
	if cf := r.Confirmation; cf != nil {
		c.confirmation(&st, cats, cf)
	}
	if d := r.HonourBusinessDays; d != nil {
		if *d < 0 || *d > 30 {
			c.fail("want 0 to 30 business days (the US TCPA allows at most 10)", "consent", "stop", "honour_business_days")
		}
		st.honourDays = *d
	}
	p.consent.stop = st
}

// confirmation compiles consent.stop.confirmation. Its category must be
// restricted, so that only the producers the policy grants it (the SMS
// platform's) can send the one message a STOP still allows.
func (c *compiler) confirmation(st *stopPolicy, cats map[string]rawCategory, cf *rawConfirmation) {
	cat, ok := cats[cf.Category]
	switch class := Class(cat.Class); {
	case cf.Category == "":
		c.fail("required: the category of the confirmation message", "consent", "stop", "confirmation", "category")
	case !ok:
		c.fail(fmt.Sprintf("unknown category %q", cf.Category), "consent", "stop", "confirmation", "category")
	case class == ClassCritical:
		c.fail("a critical category bypasses the STOP rule, so its confirmations could not be limited to one", "consent", "stop", "confirmation", "category")
	case class != ClassTransactional && (cat.Restricted == nil || !*cat.Restricted):
		c.fail("the confirmation category must be restricted (transactional, or restricted: true) so that only the producers granted it can send it", "consent", "stop", "confirmation", "category")
	case cat.RequiresConsent:
		c.fail("the confirmation follows a revocation: it cannot require consent", "consent", "stop", "confirmation", "category")
	}
	st.confirmation = cf.Category
	if cf.Within != "" {
		st.within = c.duration(cf.Within, "consent", "stop", "confirmation", "within")
		if st.within > DefaultConfirmationWithin {
			c.fail("at most 5m: 47 CFR 64.1200(a)(12) allows one confirmation within five minutes", "consent", "stop", "confirmation", "within")
		}
	}
}

// validLanguage accepts "en", "fr", "es-MX": a BCP 47 language and region.
func validLanguage(s string) bool {
	l, r, hasRegion := strings.Cut(s, "-")
	if len(l) < 2 || len(l) > 3 || strings.ToLower(l) != l || hasRegion && (len(r) < 2 || len(r) > 3) {
		return false
	}
	return !strings.ContainsFunc(l+r, func(c rune) bool { return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') })
}

// StopLanguages lists the languages of the policy's STOP keyword lists.
func (p *Policy) StopLanguages() []string { return slices.Clone(p.consent.stop.languages) }
