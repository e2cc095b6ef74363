package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// explainFlags are the flags of explain.
type explainFlags struct {
	Customer string `conf:"customer" help:"the intent's customer; without it the suppression log and the dispatch stream are searched"`
}

// windowCount is one cap's window as it stood when an intent was decided.
type windowCount struct {
	Rule   string `json:"rule"`
	Scope  string `json:"scope"`
	Value  string `json:"value,omitempty"`
	Window string `json:"window"`
	Count  int    `json:"count"`
	Max    int    `json:"max"`
	Mode   string `json:"mode"`
	// Budget says what the cap reserves and whether it defers (see
	// capBudget); empty for a plain cap.
	Budget string `json:"budget,omitempty"`
}

func explain(a *app, args []string) error {
	var f explainFlags
	pos, err := a.parse(args, 1, 1, &f)
	if err != nil {
		return err
	}
	id := pos[0]
	customer, logged, dispatched, err := a.intentCustomer(id, f.Customer)
	if err != nil {
		return err
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	d, err := st.Decision(a.ctx, customer, id)
	if err != nil {
		return err
	}
	source := "redis"
	if d == nil && logged != nil {
		d, source = logged.GetDecision(), "suppression log (the Redis record has expired)"
	}
	if d == nil {
		return a.noRecord(fmt.Sprintf("no decision recorded for intent %s of customer %s (never decided, or past the decision retention)", id, customer))
	}
	if f.Customer != "" && logged == nil && dispatched == nil && d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		// The intent's sender and topic are in its suppression record:
		// without them the sender and topic caps would read as empty.
		if logged, dispatched, err = a.findIntent(id); err != nil {
			return err
		}
	}
	// The counters are read with the policy that made the decision.
	pol, polSource, err := a.policyFor(d.GetPolicyVersion())
	if err != nil {
		return err
	}
	windows, err := a.windowsAt(pol, st, d, logged, dispatched)
	if err != nil {
		return err
	}
	dg, err := a.digestOf(st, d) // digest.go
	if err != nil {
		return err
	}
	if a.c.JSON {
		out := map[string]any{"source": source, "decision": protoJSON(d), "windows": windows,
			"counters_policy": map[string]string{"version": pol.Version, "source": polSource}}
		if dg != nil {
			out["digest"] = dg
			if dg.Decision != nil {
				out["digest_decision"] = protoJSON(dg.Decision)
			}
		}
		return a.printJSON(out)
	}
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
		{"source", source},
	}, budgetFields(d)...))
	a.reasons("reasons", d.GetReasons())
	a.reasons("shadow rules that would have said no", d.GetShadowReasons())
	if err := a.consentOnRecord(st, d); err != nil {
		return err
	}
	a.printDigest(dg)
	fmt.Fprintf(a.stdout, "\ncounters when decided (contacts in each window, from the ledger; policy %s, %s):\n", pol.Version, polSource)
	if len(windows) == 0 {
		fmt.Fprintln(a.stdout, "  (no cap applies to this category)")
		return nil
	}
	rows := make([][]string, 0, len(windows))
	for _, w := range windows {
		rows = append(rows, []string{"  " + w.Rule, w.Scope, orDash(w.Value), w.Window, strconv.Itoa(w.Count), strconv.Itoa(w.Max), w.Mode})
	}
	a.table([]string{"  CAP", "SCOPE", "VALUE", "WINDOW", "COUNT", "MAX", "MODE"}, rows)
	printBudgets(a, windows)
	return nil
}

// intentCustomer is the customer of an intent: the one given, or the one
// the suppression log or the dispatch stream names (with what it found).
func (a *app) intentCustomer(id, customer string) (string, *hushv1.SuppressionRecord, *hushv1.ContactIntent, error) {
	if customer != "" {
		return customer, nil, nil, nil
	}
	logged, dispatched, err := a.findIntent(id)
	switch {
	case err != nil:
		return "", nil, nil, err
	case logged != nil:
		return logged.GetDecision().GetCustomerId(), logged, nil, nil
	case dispatched != nil:
		return dispatched.GetCustomerId(), nil, dispatched, nil
	}
	return "", nil, nil, a.noRecord(fmt.Sprintf("intent %s is in neither the suppression log nor the dispatch stream; give --customer", id))
}

// reasons prints a decision's reasons under a title.
func (a *app) reasons(title string, rs []*hushv1.Reason) {
	fmt.Fprintf(a.stdout, "\n%s:\n", title)
	if len(rs) == 0 {
		fmt.Fprintln(a.stdout, "  (none)")
		return
	}
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		rows = append(rows, []string{"  " + policy.ShortCode(r.GetCode()), orDash(r.GetRule()), r.GetMessage()})
	}
	a.table([]string{"  REASON", "RULE", "WHY"}, rows)
}

// windowsAt rebuilds, from the customer's ledger, how full each cap that
// applies to the decision's category was when it was decided (contacts
// strictly before the decision; the ledger keeps the longest window).
func (a *app) windowsAt(pol *policy.Policy, st *store.Store, d *hushv1.Decision, logged *hushv1.SuppressionRecord, dispatched *hushv1.ContactIntent) ([]windowCount, error) {
	class, ok := pol.ClassOf(d.GetCategory())
	if !ok || class == policy.ClassCritical {
		return nil, nil
	}
	at := d.GetDecidedAt().AsTime()
	var longest time.Duration
	for _, c := range pol.Caps() {
		longest = max(longest, c.Window)
	}
	ledger, err := st.Ledger(a.ctx, d.GetCustomerId(), at.Add(-longest))
	if err != nil {
		return nil, err
	}
	it := logged.GetIntent()
	if it == nil {
		it = dispatched
	}
	self := store.Contact{IntentID: d.GetIntentId(), Channel: d.GetChannel(), Category: d.GetCategory()}
	if it != nil {
		self.Topic, self.Sender = it.GetTopic(), it.GetSender().GetService()
	}
	for _, c := range ledger {
		if c.IntentID == d.GetIntentId() {
			self = c
		}
	}
	others := slices.DeleteFunc(ledger, func(e store.Contact) bool { return e.IntentID == d.GetIntentId() })
	var out []windowCount
	for _, c := range pol.Caps() {
		if !slices.Contains(c.Classes, class) {
			continue
		}
		chk := c.Check(self.Value(c.Scope))
		n, _ := chk.Fill(others, at)
		out = append(out, windowCount{Rule: chk.Rule, Scope: c.Scope.String(), Value: chk.Value,
			Window: policy.FormatWindow(c.Window), Count: n, Max: c.Max, Mode: string(c.Mode), Budget: capBudget(&c)})
	}
	return out, nil
}

// findIntent searches the suppression log, then the dispatch stream, for
// an intent id.
func (a *app) findIntent(id string) (*hushv1.SuppressionRecord, *hushv1.ContactIntent, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, nil, err
	}
	var logged *hushv1.SuppressionRecord
	err = consent.ReadStream(a.ctx, js, a.subjects().Stream(bus.StreamSuppressed), time.Time{}, a.progress("suppression log"), func(m jetstream.Msg) error {
		rec := new(hushv1.SuppressionRecord)
		if bus.Decode(m.Data(), m.Headers(), rec) == nil && rec.GetDecision().GetIntentId() == id {
			logged = rec
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, nil, err
	}
	if logged != nil {
		return logged, nil, nil
	}
	var dispatched *hushv1.ContactIntent
	err = consent.ReadStream(a.ctx, js, a.subjects().Stream(bus.StreamDispatch), time.Time{}, a.progress("dispatch stream"), func(m jetstream.Msg) error {
		if m.Headers().Get(nats.MsgIdHdr) != id {
			return nil
		}
		it, err := bus.DecodeIntent(m.Data(), m.Headers())
		if err == nil {
			dispatched = it
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, nil, err
	}
	return nil, dispatched, nil
}
