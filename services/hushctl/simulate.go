package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/simulate"
)

// simulateFlags are the flags of simulate; the candidate is --policy.
type simulateFlags struct {
	Baseline string `conf:"baseline" help:"compare with this policy file (YAML); empty: the policy the gatekeepers publish as in force"`
	Since    string `conf:"since" default:"7d" help:"replay intents stored since then (RFC 3339, a date, or a duration back like 7d)"`
	Until    string `conf:"until" help:"and until then (RFC 3339, a date, or a duration back); empty: up to now"`
	Examples int    `conf:"examples" default:"10" help:"changed intents listed for each direction"`
}

func simulateCmd(a *app, args []string) error {
	var f simulateFlags
	if _, err := a.parse(args, 0, 0, &f); err != nil {
		return err
	}
	if a.c.Policy == "" {
		return errors.New("simulate: give the candidate policy with --policy FILE")
	}
	since, until, err := period(f.Since, f.Until, a.now())
	if err != nil {
		return err
	}
	cand, err := policy.LoadFile(a.c.Policy)
	if err != nil {
		return err
	}
	base, earlier, err := a.baselines(f.Baseline)
	if err != nil {
		return err
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	var last uint64
	rep, err := simulate.Run(a.ctx, js, simulate.Options{Subjects: a.subjects(), Since: since, Until: until,
		Baseline: base, Earlier: earlier,
		Candidate: simulate.PolicyUnder{Policy: cand, Source: "file " + a.c.Policy},
		Examples:  f.Examples, CompareRecorded: true,
		Progress: func(read uint64) {
			if read-last >= 100_000 {
				last = read
				fmt.Fprintf(a.stderr, "simulate: replayed %d intents\n", read)
			}
		}})
	if err != nil {
		return err
	}
	if a.c.JSON {
		return a.printJSON(rep)
	}
	a.printSimulation(rep)
	return nil
}

// baselines are the policies the candidate is compared with: a file, or
// the policies in force over time, from the history the gatekeepers keep
// of the version in force (bus.PolicyCurrent, its last 16 changes): the
// one in force now, and the earlier ones with when each took over.
func (a *app) baselines(file string) (simulate.PolicyUnder, []simulate.PolicyUnder, error) {
	if file != "" {
		p, err := policy.LoadFile(file)
		return simulate.PolicyUnder{Policy: p, Source: "file " + file}, nil, err
	}
	candidate := a.c.Policy
	a.c.Policy = "" // policyFor reads --policy first; here it is the candidate
	defer func() { a.c.Policy = candidate }()
	cur, source, err := a.policyFor("")
	if err != nil {
		return simulate.PolicyUnder{}, nil, err
	}
	now := simulate.PolicyUnder{Policy: cur, Source: source}
	kv, err := a.js.KeyValue(a.ctx, a.subjects().PolicyBucket())
	if err != nil {
		return now, nil, nil // read with the one in force
	}
	revs, err := kv.History(a.ctx, bus.PolicyCurrent)
	if err != nil {
		return now, nil, nil
	}
	var all []simulate.PolicyUnder
	for _, r := range revs {
		v := string(r.Value())
		if n := len(all); n > 0 && all[n-1].Policy.Version == v {
			continue // republished at a start-up: the same policy
		}
		p, src, err := a.policyFor(v)
		if err != nil || p.Version != v {
			continue // no longer published: that period reads with its neighbours
		}
		all = append(all, simulate.PolicyUnder{Policy: p, Source: src, From: r.Created()})
	}
	if len(all) == 0 || all[len(all)-1].Policy.Version != cur.Version {
		return now, nil, nil
	}
	return all[len(all)-1], all[:len(all)-1], nil
}

func (a *app) printSimulation(r *simulate.Report) {
	until := ts(r.Until)
	if r.Until.IsZero() {
		until = "now"
	}
	a.fields([][2]string{
		{"period", ts(r.Since) + " to " + until},
		{"baseline", baselineLine(r)},
		{"candidate", r.Candidate.Version + " (" + r.Candidate.Source + ")"},
		{"intents", fmt.Sprintf("%d (after %d replayed from %s to fill the ledgers; %d duplicates, %d undecodable)", r.Intents, r.WarmUp, ts(r.WarmUpFrom), r.Duplicates, r.Undecodable)},
		{"changed", strconv.Itoa(r.Changed)},
		{"approved→suppressed", strconv.Itoa(r.ApprovedToSuppressed)},
		{"suppressed→approved", strconv.Itoa(r.SuppressedToApproved)},
		{"replayed at", fmt.Sprintf("%.0f intents/s (%s)", r.PerSecond, r.Elapsed.String())},
	})
	if !r.Oldest.IsZero() && r.Oldest.After(r.WarmUpFrom) {
		fmt.Fprintf(a.stdout, "\nnote: the intents stream holds nothing before %s; windows that reach further back start emptier than they were\n", ts(r.Oldest))
	}
	fmt.Fprintln(a.stdout, "\noutcomes:")
	rows := [][]string{}
	for _, o := range keysOf(r.BaselineOutcomes, r.CandidateOutcomes) {
		rows = append(rows, []string{"  " + o, strconv.Itoa(r.BaselineOutcomes[o]), strconv.Itoa(r.CandidateOutcomes[o])})
	}
	a.table([]string{"  OUTCOME", "BASELINE", "CANDIDATE"}, rows)
	if len(r.Transitions) > 0 {
		fmt.Fprintln(a.stdout, "\nchanges:")
		rows = rows[:0]
		for _, k := range keysOf(r.Transitions) {
			rows = append(rows, []string{"  " + k, strconv.Itoa(r.Transitions[k])})
		}
		a.table([]string{"  BASELINE→CANDIDATE", "INTENTS"}, rows)
	}
	for _, b := range []struct {
		title string
		m     map[string]*simulate.Diff
	}{{"rule", r.ByRule}, {"reason", r.ByReason}, {"sender", r.BySender}, {"category", r.ByCategory}} {
		if len(b.m) == 0 {
			continue
		}
		fmt.Fprintf(a.stdout, "\nby %s:\n", b.title)
		rows = rows[:0]
		for _, k := range keysOf(b.m) {
			rows = append(rows, []string{"  " + orDash(k), strconv.Itoa(b.m[k].ApprovedToSuppressed), strconv.Itoa(b.m[k].SuppressedToApproved)})
		}
		a.table([]string{"  " + upper(b.title), "APPROVED→SUPPRESSED", "SUPPRESSED→APPROVED"}, rows)
	}
	if len(r.Examples) > 0 {
		fmt.Fprintln(a.stdout, "\nexamples:")
		rows = rows[:0]
		for _, e := range r.Examples {
			rows = append(rows, []string{"  " + e.IntentID, e.Customer, e.Category, orDash(e.Sender), ts(e.At), e.Baseline + "→" + e.Candidate, orDash(e.Rule), e.Message})
		}
		a.table([]string{"  INTENT", "CUSTOMER", "CATEGORY", "SENDER", "STORED", "CHANGE", "RULE", "WHY"}, rows)
	}
	if rec := r.Recorded; rec != nil {
		fmt.Fprintf(a.stdout, "\nbaseline against the recorded decisions: %d compared, %d agree, %d differ, %d not recorded, %d recorded under another policy version\n",
			rec.Compared, rec.Agree, rec.Differ, rec.Missing, rec.OtherVersions)
		for _, e := range rec.Examples {
			fmt.Fprintf(a.stdout, "  %s: recorded %s (policy %s), baseline %s\n", e.IntentID, e.Recorded, orDash(e.Version), e.Baseline)
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// keysOf returns the keys of the maps, sorted, once each.
func keysOf[V any](ms ...map[string]V) []string {
	var out []string
	for _, m := range ms {
		out = append(out, slices.Collect(maps.Keys(m))...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// baselineLine names the baseline's versions and when each took over.
func baselineLine(r *simulate.Report) string {
	if len(r.Earlier) == 0 {
		return r.Baseline.Version + " (" + r.Baseline.Source + ")"
	}
	var b strings.Builder
	for _, e := range r.Earlier {
		fmt.Fprintf(&b, "%s from %s, ", e.Version, ts(e.From))
	}
	fmt.Fprintf(&b, "%s from %s (the versions in force, from their time; %s)", r.Baseline.Version, ts(r.Baseline.From), r.Baseline.Source)
	return b.String()
}
