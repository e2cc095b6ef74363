package policy

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Decision is the decision the verdict makes for an intent, as the store
// records it (the store may still turn an approval into a cap suppression):
// built here once, so that every caller records the same fields.
func (p *Policy) Decision(it *hushv1.ContactIntent, v *Verdict, now time.Time, traceID string) *hushv1.Decision {
	d := &hushv1.Decision{
		IntentId:      it.GetId(),
		CustomerId:    it.GetCustomerId(),
		Channel:       it.GetChannel(),
		Category:      it.GetCategory(),
		Outcome:       v.Outcome,
		PolicyVersion: p.Version,
		DecidedAt:     timestamppb.New(now),
		TraceId:       traceID,
	}
	if !v.Approved() {
		d.Reasons = []*hushv1.Reason{v.Reason.Proto()}
	}
	for _, r := range v.Shadow {
		d.ShadowReasons = append(d.ShadowReasons, r.Proto())
	}
	if !v.ReleaseAt.IsZero() {
		d.ReleaseAt = timestamppb.New(v.ReleaseAt)
	}
	if p.recordsPriority(it) {
		d.Priority = p.PriorityOf(it).String()
	}
	return d
}

// Capped reports whether an approved contact is counted where caps read it.
// Contacts no cap can count are kept apart: critical and transactional ones
// (policy validation refuses caps on them), unless they are unsolicited,
// which the over-servicing guard counts, or a check counts them (the one
// confirmation a STOP allows).
func (v *Verdict) Capped() bool {
	return v.Unsolicited || len(v.Caps) > 0 || v.Class != ClassCritical && v.Class != ClassTransactional
}
