package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// digestInfo is what explain says of the digest a folded intent went into.
type digestInfo struct {
	ID string `json:"id"`
	// State is "pending" (not yet released), "released" or "unknown"
	// (past the decision retention).
	State     string `json:"state"`
	ReleaseAt string `json:"release_at,omitempty"`
	Trigger   string `json:"trigger,omitempty"`
	Intents   int    `json:"intents"`
	// Decision is the released digest's own decision, decided as one
	// contact: approved (one Digest dispatched) or suppressed.
	Decision *hushv1.Decision `json:"-"`
}

// digestOf reads the state of the digest a decision names; nil when the
// decision folded nothing.
func (a *app) digestOf(st *store.Store, d *hushv1.Decision) (*digestInfo, error) {
	id := d.GetDigestId()
	if id == "" {
		return nil, nil
	}
	info := &digestInfo{ID: id, State: "unknown"}
	p, ok, err := st.PendingDigest(a.ctx, d.GetCustomerId(), id)
	if err != nil {
		return nil, err
	}
	if ok {
		info.State, info.ReleaseAt, info.Trigger, info.Intents = "pending", ts(p.ReleaseAt), p.Trigger, p.Count
		return info, nil
	}
	ids, err := st.DigestIntents(a.ctx, d.GetCustomerId(), id)
	if err != nil {
		return nil, err
	}
	if info.Decision, err = st.DigestDecision(a.ctx, d.GetCustomerId(), id); err != nil {
		return nil, err
	}
	if ids != nil || info.Decision != nil {
		info.State, info.Intents = "released", len(ids)
	}
	return info, nil
}

// printDigest prints the digest a folded intent went into, and its fate.
func (a *app) printDigest(info *digestInfo) {
	if info == nil {
		return
	}
	fmt.Fprintf(a.stdout, "\ndigest %s:\n", info.ID)
	switch info.State {
	case "pending":
		a.fields([][2]string{{"  state", "pending, " + strconv.Itoa(info.Intents) + " intents"}, {"  release", info.ReleaseAt + " (" + info.Trigger + ")"}})
	case "released":
		out := "released, not yet decided"
		if d := info.Decision; d != nil {
			out = policy.ShortOutcome(d.GetOutcome())
		}
		a.fields([][2]string{{"  state", "released, " + strconv.Itoa(info.Intents) + " intents"}, {"  outcome", out}})
		if d := info.Decision; d != nil {
			if len(d.GetReasons()) == 0 {
				fmt.Fprintln(a.stdout, "  one Digest dispatched, counted once against the caps")
			} else {
				a.reasons("  why the digest was not sent (its intents stay folded)", d.GetReasons())
			}
		}
	default:
		fmt.Fprintln(a.stdout, "  no longer recorded (past the decision retention)")
	}
}

// setDigest applies --digest: CATEGORIES@HH:MM, "none", or "" (unchanged).
func setDigest(p *hushv1.Preferences, v string) error {
	switch v {
	case "":
		return nil
	case "none":
		p.Digest = nil
		return nil
	}
	cats, at, ok := strings.Cut(v, "@")
	if !ok || cats == "" {
		return fmt.Errorf("--digest: want CATEGORIES@HH:MM like marketing,survey@19:30, got %q", v)
	}
	p.Digest = &hushv1.DigestPreference{Categories: csv(cats), At: at}
	return nil
}

// digestWords shows a digest preference: "marketing, survey at 19:30".
func digestWords(p *hushv1.Preferences) string {
	d := p.GetDigest()
	if d == nil {
		return "-"
	}
	return strings.Join(d.GetCategories(), ", ") + " at " + d.GetAt()
}
