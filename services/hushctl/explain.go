package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// explainFlags are the flags of explain.
type explainFlags struct {
	Customer string `conf:"customer" help:"the intent's customer; without it the suppression log and the dispatch stream are searched"`
}

func explainCmd(a *app, args []string) error {
	var f explainFlags
	pos, err := a.parse(args, 1, 1, &f)
	if err != nil {
		return err
	}
	x, err := a.explainer()
	if err != nil {
		return err
	}
	ex, err := x.Explain(a.ctx, pos[0], f.Customer)
	var nr *explain.NoRecord
	if errors.As(err, &nr) {
		return a.noRecord(nr.What)
	}
	if err != nil {
		return err
	}
	if a.c.JSON {
		return a.printJSON(ex)
	}
	d := ex.Decision
	release := "-"
	if d.GetReleaseAt() != nil {
		release = ts(d.GetReleaseAt().AsTime())
	}
	a.fields(append([][2]string{
		{"intent", d.GetIntentId()},
		{"customer", d.GetCustomerId()},
		{"channel", d.GetChannel()},
		{"category", d.GetCategory()},
		{"outcome", policy.ShortOutcome(d.GetOutcome())},
		{"decided", ts(d.GetDecidedAt().AsTime())},
		{"release", release},
		{"policy", orDash(d.GetPolicyVersion())},
		{"trace", orDash(d.GetTraceId())},
		{"source", ex.Source},
	}, budgetFields(d)...))
	a.reasons("reasons", d.GetReasons())
	a.reasons("shadow rules that would have said no", d.GetShadowReasons())
	st, err := a.store()
	if err != nil {
		return err
	}
	if err := a.consentOnRecord(st, d); err != nil {
		return err
	}
	a.printDigest(ex.Digest)
	fmt.Fprintf(a.stdout, "\ncounters when decided (contacts in each window, from the ledger; policy %s, %s):\n", ex.PolicyVersion, ex.PolicySource)
	if len(ex.Windows) == 0 {
		fmt.Fprintln(a.stdout, "  (no cap applies to this category)")
		return nil
	}
	rows := make([][]string, 0, len(ex.Windows))
	for _, w := range ex.Windows {
		rows = append(rows, []string{"  " + w.Rule, w.Scope, orDash(w.Value), w.Window, strconv.Itoa(w.Count), strconv.Itoa(w.Max), w.Mode})
	}
	a.table([]string{"  CAP", "SCOPE", "VALUE", "WINDOW", "COUNT", "MAX", "MODE"}, rows)
	printBudgets(a, ex.Windows)
	return nil
}

// explainer finds decisions with hushctl's connections, reading counters
// with the policy that made each decision (or --policy).
func (a *app) explainer() (*explain.Explainer, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	return &explain.Explainer{JS: js, Store: st, Subjects: a.subjects(),
		PolicyFor: func(_ context.Context, version string) (*policy.Policy, string, error) { return a.policyFor(version) },
		Progress:  a.progress}, nil
}

// reasons prints a decision's reasons under a title.
func (a *app) reasons(title string, rs []*hushv1.Reason) {
	fmt.Fprintf(a.stdout, "\n%s:\n", title)
	if len(rs) == 0 {
		fmt.Fprintln(a.stdout, "  (none)")
		return
	}
	rows := make([][]string, 0, len(rs))
	law := false
	for _, r := range rs {
		law = law || r.GetPack() != ""
	}
	for _, r := range rs {
		row := []string{"  " + policy.ShortCode(r.GetCode()), orDash(r.GetRule())}
		if law { // a regulation pack decided: name its version and section
			row = append(row, lawOf(r))
		}
		rows = append(rows, append(row, r.GetMessage()))
	}
	if law {
		a.table([]string{"  REASON", "RULE", "PACK, SECTION", "WHY"}, rows)
		return
	}
	a.table([]string{"  REASON", "RULE", "WHY"}, rows)
}
