package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
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
}

func (f *suppressionFilter) match(rec *hushv1.SuppressionRecord) bool {
	d := rec.GetDecision()
	if f.Customer != "" && d.GetCustomerId() != f.Customer {
		return false
	}
	if f.Channel != "" && d.GetChannel() != f.Channel {
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

// scanSuppressions calls fn for every record of the suppression log that
// matches f, oldest first.
func (a *app) scanSuppressions(f *suppressionFilter, fn func(*hushv1.SuppressionRecord) error) error {
	now := a.now()
	since, err := parseTime(f.Since, now)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	until, err := parseTime(f.Until, now)
	if err != nil {
		return fmt.Errorf("--until: %w", err)
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
	return []string{ts(d.GetDecidedAt().AsTime()), d.GetCustomerId(), d.GetChannel(), d.GetCategory(), d.GetIntentId(), code, rule, msg}
}

var suppressionHeader = []string{"DECIDED", "CUSTOMER", "CHANNEL", "CATEGORY", "INTENT", "REASON", "RULE", "WHY"}

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
	Limit    int    `conf:"limit" default:"20" help:"how many of the latest to show"`
	Follow   bool   `conf:"follow" help:"keep printing new suppressions until interrupted"`
}

func suppressionsTail(a *app, args []string) error {
	var t tailFlags
	if _, err := a.parse(args, 0, 0, &t); err != nil {
		return err
	}
	f := &suppressionFilter{Customer: t.Customer, Channel: t.Channel, Reason: t.Reason}
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
