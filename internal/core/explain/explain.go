// Package explain answers "why was this contact (not) sent?": an intent's
// recorded decision with every reason and the counters behind it, the same
// for hushctl explain and the preference service's staff endpoint.
package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Where a decision was found (Explanation.Source).
const (
	SourceRedis      = "redis"
	SourceLog        = "suppression log (the Redis record has expired)"
	SourceDispatched = "dispatch stream (the Redis record has expired; decided is when the dispatch was stored)"
)

// ErrNoRecord is returned (wrapped in a NoRecord) when Hush holds nothing
// about the intent asked for.
var ErrNoRecord = errors.New("no record")

// NoRecord says what was not found.
type NoRecord struct{ What string }

func (e *NoRecord) Error() string { return e.What }

// Unwrap makes errors.Is(err, ErrNoRecord) hold.
func (e *NoRecord) Unwrap() error { return ErrNoRecord }

// Window is one cap's window as it stood when an intent was decided.
type Window struct {
	Rule   string `json:"rule"`
	Scope  string `json:"scope"`
	Value  string `json:"value,omitempty"`
	Window string `json:"window"`
	Count  int    `json:"count"`
	Max    int    `json:"max"`
	Mode   string `json:"mode"`
	// Budget says what the cap reserves and whether it defers (see
	// Budget); empty for a plain cap.
	Budget string `json:"budget,omitempty"`
}

// Explanation is an intent's decision, where it was found, and the windows
// of the caps that applied, read with the policy that made it.
type Explanation struct {
	Source   string
	Decision *hushv1.Decision
	Windows  []Window
	// PolicyVersion and PolicySource name the policy the counters were
	// read with.
	PolicyVersion, PolicySource string
	// Digest is the digest a folded intent went into; nil otherwise.
	Digest *Digest
}

// MarshalJSON writes the explanation as hushctl explain --json prints it,
// the decision in protojson.
func (x *Explanation) MarshalJSON() ([]byte, error) {
	d, err := protojson.Marshal(x.Decision)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"source": x.Source, "decision": json.RawMessage(d), "windows": x.Windows,
		"counters_policy": map[string]string{"version": x.PolicyVersion, "source": x.PolicySource}}
	if dg := x.Digest; dg != nil {
		out["digest"] = dg
		if dg.Decision != nil {
			dd, err := protojson.Marshal(dg.Decision)
			if err != nil {
				return nil, err
			}
			out["digest_decision"] = json.RawMessage(dd)
		}
	}
	return json.Marshal(out)
}

// Explainer finds decisions in Redis, the suppression log and the dispatch
// stream.
type Explainer struct {
	JS       jetstream.JetStream
	Store    *store.Store
	Subjects bus.Subjects
	// PolicyFor returns the policy of a version ("" for the one in force)
	// and where it came from.
	PolicyFor func(ctx context.Context, version string) (*policy.Policy, string, error)
	// Progress, when set, is told how a search of a stream goes.
	Progress func(stream string) func(read, total uint64)
}

// Dispatched is an approved intent as the dispatch stream holds it.
type Dispatched struct {
	Intent *hushv1.ContactIntent
	// At is when the dispatch was stored; Version the policy version and
	// TraceID the trace its headers carry.
	At               time.Time
	Version, TraceID string
}

// Explain returns the decision of an intent: from Redis while its record is
// kept, then from the suppression log or, for an approval, the dispatch
// stream. Without a customer, the suppression log and the dispatch stream
// are searched for it.
func (e *Explainer) Explain(ctx context.Context, id, customer string) (*Explanation, error) {
	var logged *hushv1.SuppressionRecord
	var dispatched *Dispatched
	searched := false
	if customer == "" {
		var err error
		if logged, dispatched, err = e.Find(ctx, id); err != nil {
			return nil, err
		}
		searched = true
		switch {
		case logged != nil:
			customer = logged.GetDecision().GetCustomerId()
		case dispatched != nil:
			customer = dispatched.Intent.GetCustomerId()
		default:
			return nil, &NoRecord{fmt.Sprintf("intent %s is in neither the suppression log nor the dispatch stream; give --customer", id)}
		}
	}
	d, err := e.Store.Decision(ctx, customer, id)
	if err != nil {
		return nil, err
	}
	source := SourceRedis
	if d == nil && !searched {
		if logged, dispatched, err = e.Find(ctx, id); err != nil {
			return nil, err
		}
		searched = true
		if logged != nil && logged.GetDecision().GetCustomerId() != customer {
			logged = nil
		}
		if dispatched != nil && dispatched.Intent.GetCustomerId() != customer {
			dispatched = nil
		}
	}
	switch {
	case d != nil:
	case logged != nil:
		d, source = logged.GetDecision(), SourceLog
	case dispatched != nil:
		d, source = dispatched.Decision(), SourceDispatched
	default:
		return nil, &NoRecord{fmt.Sprintf("no decision recorded for intent %s of customer %s (never decided, or past the decision retention and the streams' retention)", id, customer)}
	}
	if !searched && d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		// The intent's sender and topic are in its suppression record:
		// without them the sender and topic caps would read as empty.
		if logged, dispatched, err = e.Find(ctx, id); err != nil {
			return nil, err
		}
	}
	// The counters are read with the policy that made the decision.
	pol, polSource, err := e.PolicyFor(ctx, d.GetPolicyVersion())
	if err != nil {
		return nil, err
	}
	var it *hushv1.ContactIntent
	switch {
	case logged != nil:
		it = logged.GetIntent()
	case dispatched != nil:
		it = dispatched.Intent
	}
	windows, err := e.windowsAt(ctx, pol, d, it)
	if err != nil {
		return nil, err
	}
	dg, err := e.digestOf(ctx, d)
	if err != nil {
		return nil, err
	}
	return &Explanation{Source: source, Decision: d, Windows: windows, PolicyVersion: pol.Version, PolicySource: polSource, Digest: dg}, nil
}

// Decision is the approval a dispatch records.
func (x *Dispatched) Decision() *hushv1.Decision {
	it := x.Intent
	return &hushv1.Decision{IntentId: it.GetId(), CustomerId: it.GetCustomerId(), Channel: it.GetChannel(), Category: it.GetCategory(),
		Outcome: hushv1.Outcome_OUTCOME_APPROVED, PolicyVersion: x.Version, DecidedAt: timestamppb.New(x.At), TraceId: x.TraceID}
}

// windowsAt rebuilds, from the customer's ledger, how full each cap that
// applies to the decision's category was when it was decided (contacts
// strictly before the decision; the ledger keeps the longest window). it,
// when known, gives the intent's topic and sender.
func (e *Explainer) windowsAt(ctx context.Context, pol *policy.Policy, d *hushv1.Decision, it *hushv1.ContactIntent) ([]Window, error) {
	class, ok := pol.ClassOf(d.GetCategory())
	if !ok || class == policy.ClassCritical {
		return nil, nil
	}
	at := d.GetDecidedAt().AsTime()
	packCaps, err := e.packCaps(ctx, pol, d, it, at)
	if err != nil {
		return nil, err
	}
	var longest time.Duration
	for _, c := range pol.Caps() {
		longest = max(longest, c.Window)
	}
	for _, c := range packCaps {
		longest = max(longest, c.Window)
	}
	ledger, err := e.Store.Ledger(ctx, d.GetCustomerId(), at.Add(-longest))
	if err != nil {
		return nil, err
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
	others := slices.DeleteFunc(ledger, func(c store.Contact) bool { return c.IntentID == d.GetIntentId() })
	var out []Window
	for _, c := range pol.Caps() {
		if !slices.Contains(c.Classes, class) {
			continue
		}
		chk := c.Check(self.Value(c.Scope))
		n, _ := chk.Fill(others, at)
		out = append(out, Window{Rule: chk.Rule, Scope: c.Scope.String(), Value: chk.Value,
			Window: policy.FormatWindow(c.Window), Count: n, Max: c.Max, Mode: string(c.Mode), Budget: Budget(&c)})
	}
	return append(out, packWindows(packCaps, others, at)...), nil
}

var errStop = errors.New("stop")

// Find searches the suppression log, then the dispatch stream, for an
// intent id.
func (e *Explainer) Find(ctx context.Context, id string) (*hushv1.SuppressionRecord, *Dispatched, error) {
	progress := func(stream string) func(read, total uint64) {
		if e.Progress == nil {
			return nil
		}
		return e.Progress(stream)
	}
	var logged *hushv1.SuppressionRecord
	err := consent.ReadStream(ctx, e.JS, e.Subjects.Stream(bus.StreamSuppressed), time.Time{}, progress("suppression log"), func(m jetstream.Msg) error {
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
	var dispatched *Dispatched
	err = consent.ReadStream(ctx, e.JS, e.Subjects.Stream(bus.StreamDispatch), time.Time{}, progress("dispatch stream"), func(m jetstream.Msg) error {
		if bus.Header(m.Headers(), bus.HeaderMsgID) != id {
			return nil
		}
		it, err := bus.DecodeIntent(m.Data(), m.Headers())
		if err != nil {
			return nil
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		dispatched = &Dispatched{Intent: it, At: meta.Timestamp.UTC(), Version: bus.Header(m.Headers(), bus.HeaderPolicyVersion),
			TraceID: TraceID(bus.Header(m.Headers(), "traceparent"))}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, nil, err
	}
	return nil, dispatched, nil
}

// TraceID is the trace id of a W3C traceparent ("00-<trace>-<span>-01").
func TraceID(tp string) string {
	f := strings.Split(tp, "-")
	if len(f) != 4 || len(f[1]) != 32 {
		return ""
	}
	return f[1]
}
