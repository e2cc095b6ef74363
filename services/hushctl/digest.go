package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// printDigest prints the digest a folded intent went into, and its fate.
func (a *app) printDigest(info *explain.Digest) {
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
