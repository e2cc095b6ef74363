package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// deadLetterView is one dead letter as hushctl prints it: decoded, with
// what went wrong and what to do about it.
type deadLetterView struct {
	Seq        uint64            `json:"seq"`
	ReceivedAt string            `json:"received_at"`
	Subject    string            `json:"subject"`
	Stage      string            `json:"stage"`
	Error      string            `json:"error"`
	Hint       string            `json:"hint"`
	Deliveries uint64            `json:"deliveries,omitempty"`
	IntentSeq  uint64            `json:"intent_stream_seq,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	// Intent is the message decoded as an intent when it decodes;
	// Body is the message as text (or hex) when it does not.
	Intent json.RawMessage `json:"intent,omitempty"`
	Body   string          `json:"body,omitempty"`
}

// deadLetterHint says, in a sentence, why a message was dead-lettered and
// what its producer should change.
func deadLetterHint(dl *hushv1.DeadLetter) string {
	h := nats.Header{}
	for k, v := range dl.GetHeaders() {
		h.Set(k, v)
	}
	data := bytes.TrimSpace(dl.GetData())
	looksJSON := len(data) > 0 && (data[0] == '{' || data[0] == '[')
	switch dl.GetStage() {
	case "decode":
		switch {
		case len(data) == 0:
			return "an empty message: the producer sent no body"
		case looksJSON && !bus.IsJSON(h):
			return "JSON without `Content-Type: application/json`: set that header, or publish the protobuf encoding"
		case looksJSON:
			return "JSON that is not a ContactIntent (protojson): check the field names (customerId or customer_id) and types"
		}
		return "not a ContactIntent in protobuf: check the producer's encoding (or send JSON with Content-Type: application/json)"
	case "validate":
		return "a ContactIntent that breaks a rule of the contract (docs/wire-contract.md): fix the field the error names"
	case "max_deliver":
		return "retried until its deliveries ran out (Redis or NATS failing for it): the gatekeeper's logs name its subject; republish it once they are healthy"
	case "panic":
		return "the gatekeeper failed on this input (a bug): report it with this dead letter"
	}
	return "see the error"
}

func (a *app) deadLetterView(seq uint64, dl *hushv1.DeadLetter) deadLetterView {
	v := deadLetterView{Seq: seq, ReceivedAt: ts(dl.GetReceivedAt().AsTime()), Subject: dl.GetSubject(), Stage: dl.GetStage(),
		Error: plainSpaces(dl.GetError()), Hint: deadLetterHint(dl), Deliveries: dl.GetDeliveryCount(), IntentSeq: dl.GetStreamSequence(), Headers: dl.GetHeaders()}
	h := nats.Header{}
	for k, val := range dl.GetHeaders() {
		h.Set(k, val)
	}
	if it, err := bus.DecodeIntent(dl.GetData(), h); err == nil {
		v.Intent = protoJSON(redactIntent(it))
	} else if utf8.Valid(dl.GetData()) {
		v.Body = string(dl.GetData())
	} else {
		v.Body = "hex " + hex.EncodeToString(dl.GetData()[:min(len(dl.GetData()), 256)])
	}
	return v
}

// redactIntent drops what an operator's screen must not show: the
// destination and the payload.
func redactIntent(it *hushv1.ContactIntent) *hushv1.ContactIntent {
	if it.GetDestination() != "" {
		it.Destination = "(hidden)"
	}
	it.Payload = nil
	return it
}

// deadLetterFlags are the flags of deadletters list.
type deadLetterFlags struct {
	Stage string `conf:"stage" help:"only this stage: decode, validate, panic or max_deliver"`
	Since string `conf:"since" help:"only dead letters since then (RFC 3339, a date, or a duration back like 24h)"`
	Limit int    `conf:"limit" default:"20" help:"how many of the latest to show"`
}

func deadLettersList(a *app, args []string) error {
	var f deadLetterFlags
	if _, err := a.parse(args, 0, 0, &f); err != nil {
		return err
	}
	if f.Limit <= 0 {
		return fmt.Errorf("--limit %d: want a positive number", f.Limit)
	}
	switch f.Stage {
	case "", "decode", "validate", "panic", "max_deliver":
	default:
		return fmt.Errorf("--stage %q: want decode, validate, panic or max_deliver", f.Stage)
	}
	since, err := parseTime(f.Since, a.now())
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	var views []deadLetterView
	err = consent.ReadStream(a.ctx, js, a.subjects().Stream(bus.StreamDeadLetter), since, a.progress("dead letters"), func(m jetstream.Msg) error {
		dl := new(hushv1.DeadLetter)
		if err := bus.Decode(m.Data(), m.Headers(), dl); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		if f.Stage != "" && dl.GetStage() != f.Stage {
			return nil
		}
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		views = append(views, a.deadLetterView(seq, dl))
		if len(views) > f.Limit {
			views = views[1:]
		}
		return nil
	})
	if err != nil {
		return err
	}
	if a.c.JSON {
		return a.printJSON(views)
	}
	if len(views) == 0 {
		fmt.Fprintln(a.stdout, "no dead letters")
		return nil
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{strconv.FormatUint(v.Seq, 10), v.ReceivedAt, v.Subject, v.Stage, truncate(v.Error, 60), v.Hint})
	}
	a.table([]string{"SEQ", "RECEIVED", "SUBJECT", "STAGE", "ERROR", "HINT"}, rows)
	fmt.Fprintln(a.stdout, "\nhushctl deadletters show <seq> shows one, decoded.")
	return nil
}

func deadLettersShow(a *app, args []string) error {
	pos, err := a.parse(args, 1, 1)
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(pos[0], 10, 64)
	if err != nil || seq == 0 {
		return fmt.Errorf("%q: want the SEQ of a dead letter (hushctl deadletters list)", pos[0])
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	s, err := js.Stream(a.ctx, a.subjects().Stream(bus.StreamDeadLetter))
	if err != nil {
		return err
	}
	raw, err := s.GetMsg(a.ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return errNoRecord{fmt.Sprintf("no dead letter %d in %s", seq, a.subjects().Stream(bus.StreamDeadLetter))}
	}
	if err != nil {
		return err
	}
	dl := new(hushv1.DeadLetter)
	if err := bus.Decode(raw.Data, raw.Header, dl); err != nil {
		return fmt.Errorf("dead letter %d: %w", seq, err)
	}
	v := a.deadLetterView(seq, dl)
	if a.c.JSON {
		return a.printJSON(v)
	}
	a.fields([][2]string{
		{"seq", strconv.FormatUint(v.Seq, 10)},
		{"received", v.ReceivedAt},
		{"subject", v.Subject},
		{"stage", v.Stage},
		{"error", v.Error},
		{"hint", v.Hint},
		{"deliveries", strconv.FormatUint(v.Deliveries, 10)},
		{"intent stream seq", strconv.FormatUint(v.IntentSeq, 10)},
	})
	fmt.Fprintln(a.stdout, "\nheaders:")
	if len(v.Headers) == 0 {
		fmt.Fprintln(a.stdout, "  (none)")
	}
	var hrows [][]string
	for _, k := range sortedKeys(v.Headers) {
		hrows = append(hrows, []string{"  " + k, v.Headers[k]})
	}
	a.table(nil, hrows)
	if v.Intent != nil {
		var out bytes.Buffer
		json.Indent(&out, v.Intent, "  ", "  ")
		fmt.Fprintf(a.stdout, "\nintent (decoded; destination and payload hidden):\n  %s\n", out.String())
	} else {
		fmt.Fprintf(a.stdout, "\nmessage (it does not decode as an intent):\n  %s\n", strings.ReplaceAll(truncate(v.Body, 2000), "\n", "\n  "))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// truncate keeps the first n characters of s.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// plainSpaces turns the no-break spaces Go's protobuf errors put in at
// random (so that nobody matches their text) into spaces: an operator reads
// the same error whichever binary decoded the message.
func plainSpaces(s string) string { return strings.ReplaceAll(s, "\u00a0", " ") }
