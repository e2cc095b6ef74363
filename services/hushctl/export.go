package main

import (
	"bufio"
	encsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// exportFlags are the flags of export.
type exportFlags struct {
	Since  string `conf:"since" default:"24h" help:"decisions stored since then (RFC 3339, a date, or a duration back like 7d)"`
	Until  string `conf:"until" help:"and until then (RFC 3339, a date, or a duration back); empty: up to the streams' end"`
	Format string `conf:"format" default:"jsonl" help:"jsonl (one JSON object a line) or csv (with a header line)"`
}

// exportRow is one decision as export writes it: flat, for a warehouse.
// It holds no destination and no payload, only the destination's hash.
type exportRow struct {
	DecidedAt       string   `json:"decided_at"`
	IntentID        string   `json:"intent_id"`
	CustomerID      string   `json:"customer_id"`
	Channel         string   `json:"channel"`
	Category        string   `json:"category"`
	Topic           string   `json:"topic"`
	Sender          string   `json:"sender"`
	AgentID         string   `json:"agent_id"`
	Initiator       string   `json:"initiator"`
	Outcome         string   `json:"outcome"`
	Reason          string   `json:"reason"`
	Rule            string   `json:"rule"`
	Message         string   `json:"message"`
	ShadowRules     []string `json:"shadow_rules"`
	PolicyVersion   string   `json:"policy_version"`
	ReleaseAt       string   `json:"release_at"`
	TraceID         string   `json:"trace_id"`
	DestinationHash string   `json:"destination_hash"`
	// Source is the stream the row comes from (suppressed, dispatch) and
	// Seq its sequence there: together a unique key for loads.
	Source string `json:"source"`
	Seq    uint64 `json:"seq"`
}

var exportColumns = []string{"decided_at", "intent_id", "customer_id", "channel", "category", "topic", "sender", "agent_id", "initiator",
	"outcome", "reason", "rule", "message", "shadow_rules", "policy_version", "release_at", "trace_id", "destination_hash", "source", "seq"}

func (r *exportRow) csv() []string {
	return []string{r.DecidedAt, r.IntentID, r.CustomerID, r.Channel, r.Category, r.Topic, r.Sender, r.AgentID, r.Initiator,
		r.Outcome, r.Reason, r.Rule, r.Message, strings.Join(r.ShadowRules, ";"), r.PolicyVersion, r.ReleaseAt, r.TraceID,
		r.DestinationHash, r.Source, strconv.FormatUint(r.Seq, 10)}
}

func newExportRow(d *hushv1.Decision, it *hushv1.ContactIntent, destHash, source string, seq uint64) exportRow {
	r := exportRow{DecidedAt: stamp(d.GetDecidedAt().AsTime()), IntentID: d.GetIntentId(), CustomerID: d.GetCustomerId(),
		Channel: d.GetChannel(), Category: d.GetCategory(), Topic: it.GetTopic(), Sender: it.GetSender().GetService(),
		AgentID: it.GetSender().GetAgentId(), Initiator: it.GetInitiator(), Outcome: policy.ShortOutcome(d.GetOutcome()),
		PolicyVersion: d.GetPolicyVersion(), TraceID: d.GetTraceId(), DestinationHash: destHash, Source: source, Seq: seq,
		ShadowRules: []string{}}
	if rs := d.GetReasons(); len(rs) > 0 {
		r.Reason, r.Rule, r.Message = policy.ShortCode(rs[0].GetCode()), rs[0].GetRule(), rs[0].GetMessage()
	}
	for _, s := range d.GetShadowReasons() {
		r.ShadowRules = append(r.ShadowRules, s.GetRule())
	}
	if d.GetReleaseAt() != nil {
		r.ReleaseAt = stamp(d.GetReleaseAt().AsTime())
	}
	return r
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func exportCmd(a *app, args []string) error {
	var f exportFlags
	if _, err := a.parse(args, 0, 0, &f); err != nil {
		return err
	}
	if f.Format != "jsonl" && f.Format != "csv" {
		return fmt.Errorf("--format %q: want jsonl or csv", f.Format)
	}
	since, until, err := period(f.Since, f.Until, a.now())
	if err != nil {
		return err
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	write, flush := func(r *exportRow) error { return nil }, out.Flush
	if f.Format == "csv" {
		w := encsv.NewWriter(out)
		if err := w.Write(exportColumns); err != nil {
			return err
		}
		write = func(r *exportRow) error { return w.Write(r.csv()) }
		flush = func() error {
			if w.Flush(); w.Error() != nil {
				return w.Error()
			}
			return out.Flush()
		}
	} else {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		write = func(r *exportRow) error { return enc.Encode(r) }
	}
	p := newProgress(a.stderr, time.Now) // wall time: a.now is the clock of the data
	counts := map[string]int{}
	s := a.subjects()
	err = exportStream(a, js, s.Stream(bus.StreamSuppressed), "suppression log", since, until, p, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		rec := new(hushv1.SuppressionRecord)
		if err := bus.Decode(m.Data(), m.Headers(), rec); err != nil {
			return nil // not a record Hush wrote
		}
		row := newExportRow(rec.GetDecision(), rec.GetIntent(), rec.GetDestinationHash(), "suppressed", meta.Sequence.Stream)
		counts["suppression log"]++
		return write(&row)
	})
	if err != nil {
		return err
	}
	err = exportStream(a, js, s.Stream(bus.StreamDispatch), "dispatch stream", since, until, p, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		it, err := bus.DecodeIntent(m.Data(), m.Headers())
		if err != nil {
			return nil
		}
		d := (&explain.Dispatched{Intent: it, At: meta.Timestamp, Version: bus.Header(m.Headers(), bus.HeaderPolicyVersion),
			TraceID: explain.TraceID(bus.Header(m.Headers(), "traceparent"))}).Decision()
		hash := ""
		if it.GetDestination() != "" {
			hash = policy.HashDestination(it.GetDestination())
		}
		row := newExportRow(d, it, hash, "dispatch", meta.Sequence.Stream)
		counts["dispatch stream"]++
		return write(&row)
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	p.done(fmt.Sprintf("export: %d decisions (%d from the suppression log, %d from the dispatch stream)",
		counts["suppression log"]+counts["dispatch stream"], counts["suppression log"], counts["dispatch stream"]))
	return nil
}

// exportStream reads one stream from since to until and writes its rows.
func exportStream(a *app, js jetstream.JetStream, stream, what string, since, until time.Time, p *progress, fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	var read, total uint64
	err := consent.ReadStream(a.ctx, js, stream, since, nil, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if !until.IsZero() && meta.Timestamp.After(until) {
			return errStop
		}
		if total == 0 {
			total = 1 + meta.NumPending // this and what follows it
		}
		read++
		p.update(what, read, total)
		return fn(m, meta)
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	p.finish(what, read)
	return nil
}

// progress reports a long export on stderr: a bar redrawn in place when
// stderr is a terminal, else a plain line every few seconds.
type progress struct {
	w    io.Writer
	tty  bool
	now  func() time.Time
	last time.Time
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, now: now, last: now()}
}

// update reports read of total messages of a stream, now and then.
func (p *progress) update(what string, read, total uint64) {
	t := p.now()
	if p.tty {
		if t.Sub(p.last) >= 100*time.Millisecond {
			p.last = t
			p.bar(what, read, total)
		}
		return
	}
	if t.Sub(p.last) >= 5*time.Second {
		p.last = t
		fmt.Fprintf(p.w, "export: %s: %d of %d messages\n", what, read, total)
	}
}

func (p *progress) bar(what string, read, total uint64) {
	const width = 30
	filled := width
	if total > read {
		filled = int(uint64(width) * read / total)
	}
	fmt.Fprintf(p.w, "\r%-16s [%s%s] %d/%d", what, strings.Repeat("#", filled), strings.Repeat(".", width-filled), read, max(total, read))
}

// finish reports a stream read to its end (or to --until).
func (p *progress) finish(what string, read uint64) {
	if p.tty {
		p.bar(what, read, read)
		fmt.Fprintln(p.w)
		return
	}
	fmt.Fprintf(p.w, "export: %s: %d messages\n", what, read)
}

func (p *progress) done(summary string) { fmt.Fprintln(p.w, summary) }
