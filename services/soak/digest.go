package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// digestCustomers asked for one summary a day of marketing and surveys
// (released in the soak when three are pending: the policy's max_pending).
func digestCustomers(k int) bool { return k%25 == 11 }

// digestPrefs is what a digest customer chose.
func digestPrefs(p *hushv1.Preferences) {
	p.Digest = &hushv1.DigestPreference{Categories: []string{"marketing", "survey"}, At: "03:00"}
}

// digestAudit is what the auditor reads of digests: the folded intents'
// outcomes, and the dispatched and suppressed digests.
type digestAudit struct {
	folded     map[string]string   // intent id -> the digest its outcome names
	in         map[string][]string // intent id -> the dispatched digests holding it
	dispatched map[string]int      // digest id -> Digest messages
	suppressed map[string]bool     // digest id -> suppressed at release
}

func newDigestAudit() *digestAudit {
	return &digestAudit{folded: map[string]string{}, in: map[string][]string{}, dispatched: map[string]int{}, suppressed: map[string]bool{}}
}

// dispatch reads a message of the dispatch stream that carries a Digest;
// false when it carries one intent.
func (a *digestAudit) dispatch(rep *report, m jetstream.Msg, byCustomer map[string][]dispatch) bool {
	id := m.Headers().Get(gatekeeper.HeaderDigest)
	if id == "" {
		return false
	}
	dg := new(hushv1.Digest)
	if err := proto.Unmarshal(m.Data(), dg); err != nil {
		rep.Phantom++
		rep.example("undecodable digest %s: %v", id, err)
		return true
	}
	rep.Digests++
	a.dispatched[id]++
	for _, it := range dg.GetIntents() {
		a.in[it.GetId()] = append(a.in[it.GetId()], id)
	}
	// One contact for the caps and consent checks, as the gatekeeper
	// decided it: in the category and from the sender of its first intent.
	if len(dg.GetIntents()) > 0 {
		first := dg.GetIntents()[0]
		md, _ := m.Metadata()
		byCustomer[dg.GetCustomerId()] = append(byCustomer[dg.GetCustomerId()], dispatch{
			id, dg.GetChannel(), first.GetCategory(), "", first.GetSender().GetService(), md.Timestamp})
	}
	return true
}

// logged reads a suppression-log decision that concerns digests: a folded
// intent (noted as its outcome), or a digest suppressed at its release
// (not an intent: not noted). It returns false for other decisions.
func (a *digestAudit) logged(d *hushv1.Decision, note func(id, what string)) bool {
	switch {
	case d.GetOutcome() == hushv1.Outcome_OUTCOME_FOLDED:
		a.folded[d.GetIntentId()] = d.GetDigestId()
		note(d.GetIntentId(), "folded")
		return true
	case d.GetDigestId() != "" && d.GetIntentId() == d.GetDigestId():
		a.suppressed[d.GetDigestId()] = true
		return true
	}
	return false
}

// check verifies that every folded intent is in exactly one digest, the
// one its outcome names: dispatched once, or suppressed at its release, or
// still pending in Redis; that no digest is dispatched twice, and no
// intent is in a digest without having been folded. (Folded and also
// dispatched alone is two outcomes, which audit counts.)
func (a *digestAudit) check(ctx context.Context, r *soakRun, rep *report) error {
	for id, n := range a.dispatched {
		if n > 1 {
			rep.DispatchedTwice++
			rep.example("digest %s dispatched %d times", id, n)
		}
	}
	for id, ds := range a.in {
		if _, ok := a.folded[id]; !ok {
			rep.DigestViolations++
			rep.example("%s is in digest %v without a folded outcome", id, ds)
		}
	}
	for id, want := range a.folded {
		rep.Folded++
		ds := a.in[id]
		switch {
		case len(ds) > 1:
			rep.DigestViolations++
			rep.example("%s is in digests %v", id, ds)
		case len(ds) == 1 && ds[0] != want:
			rep.DigestViolations++
			rep.example("%s is in digest %s, its outcome names %s", id, ds[0], want)
		case len(ds) == 1:
		case a.suppressed[want]:
			rep.InSuppressedDigests++
		default:
			held, err := r.digestHolds(ctx, id, want)
			if err != nil {
				return err
			}
			if held {
				rep.StillInDigests++
				continue
			}
			// Redis killed with unsynced writes may lose a pending digest,
			// as it may lose a deferral's record.
			if !r.s.RedisCrash {
				rep.DigestViolations++
			}
			rep.example("%s is in no digest (its outcome names %s)", id, want)
		}
	}
	return nil
}

// digestHolds reports whether a pending digest holds an intent: the
// intent's customer is read from the workload's plan.
func (r *soakRun) digestHolds(ctx context.Context, intentID, digestID string) (bool, error) {
	var i int
	if _, err := fmt.Sscanf(intentID, "s%d", &i); err != nil {
		return false, nil
	}
	customer := r.plan(i, time.Time{}, nil).it.GetCustomerId() // the customer depends on i only
	return r.store.DigestHolds(ctx, customer, digestID, intentID)
}
