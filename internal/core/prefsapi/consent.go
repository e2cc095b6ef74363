package prefsapi

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// consentRoutes are the routes of recorded opt-in consent.
func (s *Server) consentRoutes(api func(string, func(http.ResponseWriter, *http.Request, *Principal))) {
	api("POST /v1/customers/{customer}/consents", s.postConsent)
	api("DELETE /v1/customers/{customer}/consents/{category}", s.deleteConsent)
}

// consentRequest is the body of POST /consents: what GDPR art. 7(1) asks a
// business to be able to show (when, how, to which wording, from where).
type consentRequest struct {
	Category       string     `json:"category"`
	Channel        string     `json:"channel"`
	Method         string     `json:"method"`
	WordingVersion string     `json:"wording_version"`
	Source         string     `json:"source"`
	SubjectRef     string     `json:"subject_ref"`
	GivenAt        *time.Time `json:"given_at,omitempty"`
}

// maxConsentField bounds the free-text fields of a grant.
const maxConsentField = 128

// grant checks a consent request and makes the grant it records.
func (s *Server) grant(in consentRequest, now time.Time) (*hushv1.ConsentGrant, error) {
	if _, ok := s.o.Policy.ClassOf(in.Category); !ok {
		return nil, badField("category", "unknown category %q", in.Category)
	}
	if in.Channel != "" && !policy.IsChannel(in.Channel) {
		return nil, badField("channel", "unknown channel %q (want one of email, sms, push, voice, whatsapp, in_app, or none for every channel)", in.Channel)
	}
	for _, f := range []struct{ name, v string }{{"method", in.Method}, {"wording_version", in.WordingVersion}, {"source", in.Source}} {
		if f.v == "" || len(f.v) > maxConsentField {
			return nil, badField(f.name, "required: at most %d bytes (consent must be shown: how it was given, to which wording, from where)", maxConsentField)
		}
	}
	if len(in.SubjectRef) > maxConsentField {
		return nil, badField("subject_ref", "at most %d bytes", maxConsentField)
	}
	given := now
	if in.GivenAt != nil {
		if in.GivenAt.After(now.Add(time.Minute)) {
			return nil, badField("given_at", "in the future: consent is recorded once given")
		}
		given = *in.GivenAt
	}
	return &hushv1.ConsentGrant{Category: in.Category, Channel: in.Channel, GivenAt: timestamppb.New(given), Method: in.Method,
		WordingVersion: in.WordingVersion, Source: in.Source, SubjectRef: in.SubjectRef}, nil
}

// postConsent records opt-in consent: the token's subject is the actor the
// consent history names (the customer, or staff recording consent given by
// phone or on paper).
func (s *Server) postConsent(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.Owns(customer) && !who.Staff() {
		forbidden(w, "record this customer's consent")
		return
	}
	var in consentRequest
	if err := decodeBody(r, &in); err != nil {
		s.failErr(w, r, err)
		return
	}
	g, err := s.grant(in, s.o.Now())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		consent.RecordGrant(p, proto.Clone(g).(*hushv1.ConsentGrant))
		return nil
	})
}

// deleteConsent withdraws consent: the grants of the category (on the
// channel of ?channel=, when given), or, when the policy says consent.revoke_all,
// every grant the customer gave. Withdrawn grants stay, with withdrawn_at,
// so that the preferences and the history show both.
func (s *Server) deleteConsent(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer, category := r.PathValue("customer"), r.PathValue("category")
	if !who.Owns(customer) && !who.Staff() {
		forbidden(w, "withdraw this customer's consent")
		return
	}
	if _, ok := s.o.Policy.ClassOf(category); !ok {
		s.failErr(w, r, badField("category", "unknown category %q", category))
		return
	}
	ch := r.URL.Query().Get("channel")
	if ch != "" && !policy.IsChannel(ch) {
		s.failErr(w, r, badField("channel", "unknown channel %q", ch))
		return
	}
	now, all := s.o.Now(), s.o.Policy.RevokeAll()
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		consent.WithdrawGrants(p, category, ch, all, now)
		return nil
	})
}

// keepConsent refuses a PUT or PATCH that changes consents or revocations
// (they change only through /consents and STOP keywords, each change with
// its proof), and gives next the current ones.
func keepConsent(next, cur *hushv1.Preferences, put bool) error {
	if !put || len(next.GetConsents()) > 0 {
		if !slices.EqualFunc(next.GetConsents(), cur.GetConsents(), grantEqual) {
			return badField("consents", "recorded with POST and withdrawn with DELETE /consents")
		}
	}
	if !put || len(next.GetRevocations()) > 0 {
		if !slices.EqualFunc(next.GetRevocations(), cur.GetRevocations(), revocationEqual) {
			return badField("revocations", "recorded from STOP keywords and lifted by consent given again on the channel (POST /consents)")
		}
	}
	next.Consents, next.Revocations = cur.GetConsents(), cur.GetRevocations()
	return nil
}

func grantEqual(a, b *hushv1.ConsentGrant) bool    { return proto.Equal(a, b) }
func revocationEqual(a, b *hushv1.Revocation) bool { return proto.Equal(a, b) }

// validateConsents checks the grants and revocations preferences carry.
func validateConsents(p *hushv1.Preferences, pol *policy.Policy) error {
	for i, g := range p.GetConsents() {
		f := fmt.Sprintf("consents[%d]", i)
		if _, ok := pol.ClassOf(g.GetCategory()); !ok && !(g.GetCategory() == "" && g.GetChannel() != "") {
			return badField(f+".category", "unknown category %q", g.GetCategory())
		}
		if c := g.GetChannel(); c != "" && !policy.IsChannel(c) {
			return badField(f+".channel", "unknown channel %q", c)
		}
		if g.GetGivenAt() == nil || g.GetMethod() == "" {
			return badField(f, "a grant needs given_at and method")
		}
	}
	for i, r := range p.GetRevocations() {
		if !policy.IsChannel(r.GetChannel()) {
			return badField(fmt.Sprintf("revocations[%d].channel", i), "unknown channel %q", r.GetChannel())
		}
	}
	return nil
}
