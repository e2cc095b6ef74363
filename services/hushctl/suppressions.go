package main

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/deferral"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// suppressionFilter selects suppression records.
type suppressionFilter struct {
	Customer string `conf:"customer" help:"only this customer"`
	Channel  string `conf:"channel" help:"only this channel"`
	Reason   string `conf:"reason" help:"only this reason code (opted_out, frequency_cap, ...) or rule id (cap.customer-daily)"`
	Since    string `conf:"since" help:"only suppressions since then (RFC 3339, a date, or a duration back like 24h)"`
	Until    string `conf:"until" help:"only suppressions until then (RFC 3339 or a date)"`
	Outcome  string `conf:"outcome" help:"only this outcome: suppressed or deferred (a deferral waits for its release; default both)"`
}

func (f *suppressionFilter) match(rec *hushv1.SuppressionRecord) bool {
	d := rec.GetDecision()
	if f.Customer != "" && d.GetCustomerId() != f.Customer {
		return false
	}
	if f.Channel != "" && d.GetChannel() != f.Channel {
		return false
	}
	if f.Outcome != "" && policy.ShortOutcome(d.GetOutcome()) != f.Outcome {
		return false
	}
	if f.Reason != "" {
		found := false
		for _, r := range d.GetReasons() {
			if policy.ShortCode(r.GetCode()) == f.Reason || r.GetRule() == f.Reason {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

var errStop = errors.New("stop")

// validChannel refuses a channel Hush does not know.
func validChannel(flag, channel string) error {
	if channel == "" || slices.Contains(policy.Channels, channel) {
		return nil
	}
	return fmt.Errorf("--%s %q: not a channel (%s)", flag, channel, strings.Join(policy.Channels, ", "))
}

// validReason refuses a --reason that is neither a reason code (opted_out)
// nor a rule id of the policy (cap.customer-daily, quiet_hours).
func (a *app) validReason(reason string) error {
	if reason == "" {
		return nil
	}
	var codes []string
	for n := range hushv1.ReasonCode_name {
		if c := hushv1.ReasonCode(n); c != hushv1.ReasonCode_REASON_CODE_UNSPECIFIED {
			codes = append(codes, policy.ShortCode(c))
		}
	}
	sort.Strings(codes)
	rules := []string{deferral.RuleCancelled, "preferences.max_frequency"}
	for _, id := range policy.RuleOrder() {
		if id != policy.RuleCaps {
			rules = append(rules, id)
		}
	}
	if pol, err := a.policy(); err == nil {
		for _, c := range pol.Caps() {
			rules = append(rules, c.Check("").Rule)
		}
	}
	if slices.Contains(codes, reason) || slices.Contains(rules, reason) {
		return nil
	}
	hint := ""
	if alt := strings.ReplaceAll(reason, "-", "_"); slices.Contains(codes, alt) {
		hint = fmt.Sprintf(" (did you mean %s?)", alt)
	}
	return fmt.Errorf("--reason %q: not a reason code or rule id%s; reason codes: %s", reason, hint, strings.Join(codes, ", "))
}

// validOutcome refuses an --outcome other than suppressed or deferred.
func validOutcome(outcome string) error {
	switch outcome {
	case "", "suppressed", "deferred":
		return nil
	}
	return fmt.Errorf("--outcome %q: want suppressed or deferred", outcome)
}

// scanSuppressions calls fn for every record of the suppression log that
// matches f, oldest first.
func (a *app) scanSuppressions(f *suppressionFilter, fn func(*hushv1.SuppressionRecord) error) error {
	now := a.now()
	since, until, err := period(f.Since, f.Until, now)
	if err != nil {
		return err
	}
	if err := errors.Join(validChannel("channel", f.Channel), a.validReason(f.Reason), validOutcome(f.Outcome)); err != nil {
		return err
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	err = consent.ReadStream(a.ctx, js, a.subjects().Stream(bus.StreamSuppressed), since, a.progress("suppression log"), func(m jetstream.Msg) error {
		rec := new(hushv1.SuppressionRecord)
		if err := bus.Decode(m.Data(), m.Headers(), rec); err != nil {
			return fmt.Errorf("suppression log: %w", err)
		}
		decided := rec.GetDecision().GetDecidedAt().AsTime()
		if !until.IsZero() && decided.After(until) {
			return nil
		}
		if !since.IsZero() && decided.Before(since) {
			return nil
		}
		if !f.match(rec) {
			return nil
		}
		return fn(rec)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func suppressionRow(rec *hushv1.SuppressionRecord) []string {
	d := rec.GetDecision()
	code, rule, msg := "-", "-", "-"
	if rs := d.GetReasons(); len(rs) > 0 {
		code, rule, msg = policy.ShortCode(rs[0].GetCode()), rs[0].GetRule(), rs[0].GetMessage()
	}
	return []string{ts(d.GetDecidedAt().AsTime()), d.GetCustomerId(), d.GetChannel(), d.GetCategory(), d.GetIntentId(),
		policy.ShortOutcome(d.GetOutcome()), code, rule, msg}
}

// The suppression log holds deferrals too: the OUTCOME column tells them
// apart (a deferral is not a suppression; its release is logged again if
// it is suppressed then).
var suppressionHeader = []string{"DECIDED", "CUSTOMER", "CHANNEL", "CATEGORY", "INTENT", "OUTCOME", "REASON", "RULE", "WHY"}

func (a *app) showSuppressions(recs []*hushv1.SuppressionRecord) error {
	if a.c.JSON {
		out := make([]any, 0, len(recs))
		for _, r := range recs {
			out = append(out, protoJSON(r))
		}
		return a.printJSON(out)
	}
	rows := make([][]string, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, suppressionRow(r))
	}
	a.table(suppressionHeader, rows)
	return nil
}

func suppressionsQuery(a *app, args []string) error {
	var f suppressionFilter
	if _, err := a.parse(args, 0, 0, &f); err != nil {
		return err
	}
	var recs []*hushv1.SuppressionRecord
	if err := a.scanSuppressions(&f, func(r *hushv1.SuppressionRecord) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		return err
	}
	return a.showSuppressions(recs)
}

// tailFlags are the flags of suppressions tail.
type tailFlags struct {
	Customer string `conf:"customer" help:"only this customer"`
	Channel  string `conf:"channel" help:"only this channel"`
	Reason   string `conf:"reason" help:"only this reason code or rule id"`
	Outcome  string `conf:"outcome" help:"only this outcome: suppressed or deferred (default both)"`
	Limit    int    `conf:"limit" default:"20" help:"how many of the latest to show"`
	Follow   bool   `conf:"follow" help:"keep printing new suppressions until interrupted"`
}

func suppressionsTail(a *app, args []string) error {
	var t tailFlags
	if _, err := a.parse(args, 0, 0, &t); err != nil {
		return err
	}
	if t.Limit <= 0 {
		return fmt.Errorf("--limit %d: want a positive number", t.Limit)
	}
	f := &suppressionFilter{Customer: t.Customer, Channel: t.Channel, Reason: t.Reason, Outcome: t.Outcome}
	var last []*hushv1.SuppressionRecord
	if err := a.scanSuppressions(f, func(r *hushv1.SuppressionRecord) error {
		last = append(last, r)
		if len(last) > t.Limit {
			last = last[1:]
		}
		return nil
	}); err != nil {
		return err
	}
	if err := a.showSuppressions(last); err != nil {
		return err
	}
	if !t.Follow {
		return nil
	}
	js, _ := a.jetstream()
	c, err := js.OrderedConsumer(a.ctx, a.subjects().Stream(bus.StreamSuppressed), jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	for {
		m, err := c.Next(jetstream.FetchMaxWait(time.Second))
		if a.ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, nats.ErrTimeout) {
			continue
		}
		if err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		rec := new(hushv1.SuppressionRecord)
		if err := bus.Decode(m.Data(), m.Headers(), rec); err != nil || !f.match(rec) {
			continue
		}
		if a.c.JSON {
			a.printJSON(protoJSON(rec))
			continue
		}
		a.table(nil, [][]string{suppressionRow(rec)})
	}
}
