package prefsapi

import (
	"net/url"
	"slices"
	"strings"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// validateDigest checks "send me one summary a day at HH:MM": a time and
// categories the policy may fold (service and marketing ones).
func validateDigest(p *hushv1.Preferences, pol *policy.Policy) error {
	d := p.GetDigest()
	if d == nil || len(d.GetCategories()) == 0 && d.GetAt() == "" {
		return nil
	}
	if !hhmm.MatchString(d.GetAt()) {
		return badField("digest.at", "want HH:MM (00:00-23:59), got %q", d.GetAt())
	}
	if len(d.GetCategories()) == 0 {
		return badField("digest.categories", "name at least one category")
	}
	for _, c := range d.GetCategories() {
		if !slices.Contains(pol.DigestCategories(), c) {
			return badField("digest.categories", "%q is not a category of service or marketing messages", c)
		}
	}
	return pol.ValidateDigest(d)
}

// digestChoices are the kinds of message the page offers a daily summary
// of, ticked when the customer chose them.
func (s *Server) digestChoices(p *hushv1.Preferences) []choice {
	var out []choice
	for _, c := range s.o.Policy.DigestCategories() {
		out = append(out, choice{c, label(c), slices.Contains(p.GetDigest().GetCategories(), c)})
	}
	return out
}

// formDigest applies the summary part of the page's form: ticked kinds of
// message and a time, or neither (no summary).
func (s *Server) formDigest(p *hushv1.Preferences, f url.Values) error {
	at := strings.TrimSpace(f.Get("digest_at"))
	var cats []string
	for _, c := range s.o.Policy.DigestCategories() {
		if slices.Contains(f["digest_category"], c) {
			cats = append(cats, c)
		}
	}
	switch {
	case len(cats) == 0 && at == "":
		p.Digest = nil
	case at == "":
		return badField("digest.at", "choose the time of your daily summary")
	case len(cats) == 0:
		return badField("digest.categories", "tick at least one kind of message for your daily summary")
	default:
		p.Digest = &hushv1.DigestPreference{Categories: cats, At: at}
	}
	return nil
}

// withDigestForm puts the summary part of the form back on the page.
func (s *Server) withDigestForm(d *prefsPageData, f url.Values) {
	for i := range d.Digest {
		d.Digest[i].On = slices.Contains(f["digest_category"], d.Digest[i].Name)
	}
	d.DigestAt = f.Get("digest_at")
}
