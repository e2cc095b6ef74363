package consent

import (
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// More ways a change is made, and the actor of changes the customer makes
// without a token (a STOP keyword).
const (
	// ViaStopKeyword is a revocation the gatekeeper recorded from a STOP
	// keyword in an inbound message.
	ViaStopKeyword = "stop_keyword"
	// ActorCustomer is the customer acting for themselves.
	ActorCustomer = "customer"
)

// AddRevocation adds a revocation of a channel for a sender scope to p,
// unless one for the same channel and scope is in force already, or the
// customer opted in again on that channel after it (a STOP redelivered
// after a later opt-in must not undo the opt-in). It reports whether p
// changed.
func AddRevocation(p *hushv1.Preferences, r *hushv1.Revocation) bool {
	for _, o := range p.GetRevocations() {
		if o.GetChannel() == r.GetChannel() && o.GetService() == r.GetService() {
			return false
		}
	}
	for _, g := range p.GetConsents() {
		if g.GetChannel() == r.GetChannel() && g.GetGivenAt().AsTime().After(r.GetAt().AsTime()) {
			return false
		}
	}
	p.Revocations = append(p.Revocations, r)
	return true
}

// RecordGrant records opt-in consent in p. It replaces an earlier grant of
// the same category, channel and subject (the history keeps it), and, when
// the grant names a channel, lifts the revocations of that channel made
// before it: consent given again, expressly, on the channel a STOP closed.
func RecordGrant(p *hushv1.Preferences, g *hushv1.ConsentGrant) {
	p.Consents = slices.DeleteFunc(p.Consents, func(o *hushv1.ConsentGrant) bool {
		return o.GetCategory() == g.GetCategory() && o.GetChannel() == g.GetChannel() && o.GetSubjectRef() == g.GetSubjectRef()
	})
	p.Consents = append(p.Consents, g)
	if g.GetChannel() == "" {
		return
	}
	p.Revocations = slices.DeleteFunc(p.Revocations, func(r *hushv1.Revocation) bool {
		return r.GetChannel() == g.GetChannel() && !r.GetAt().AsTime().After(g.GetGivenAt().AsTime())
	})
}

// WithdrawGrants marks the grants in force of a category (and of a channel,
// when one is named) as withdrawn at; all withdraws every grant in force,
// whatever its category (the policy's consent.revoke_all). It returns how
// many it withdrew.
func WithdrawGrants(p *hushv1.Preferences, category, channel string, all bool, at time.Time) int {
	n := 0
	for _, g := range p.GetConsents() {
		if g.GetWithdrawnAt() != nil {
			continue
		}
		if !all && (g.GetCategory() != category || channel != "" && g.GetChannel() != channel) {
			continue
		}
		g.WithdrawnAt = timestamppb.New(at)
		n++
	}
	return n
}
