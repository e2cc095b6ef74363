package simulate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Options say what to replay and against which policies.
type Options struct {
	Subjects bus.Subjects
	// Since and Until bound the period reported, by the time each intent
	// was stored (zero Until: up to the stream's end as the replay
	// begins).
	Since, Until time.Time
	// Baseline is the policy the candidate is compared with (the one in
	// force); Candidate the policy being tried. Both are replayed.
	Baseline, Candidate PolicyUnder
	// Earlier are the baseline's earlier versions, oldest first: each
	// decides the intents stored from its From to the next one's (the
	// last to Baseline.From), as the policy in force at their time. The
	// baseline's versions share one ledger, as the gatekeepers' do.
	Earlier []PolicyUnder
	// Examples is how many changed intents of each direction the report
	// lists (10).
	Examples int
	// CompareRecorded also compares the baseline's replay with the
	// decisions recorded on the dispatch stream and the suppression log.
	CompareRecorded bool
	// Workers decode intents in parallel (GOMAXPROCS).
	Workers int
	// Progress, when set, is told now and then how many intents were read.
	Progress func(read uint64)
}

// PolicyUnder is a policy with where it came from and, for a baseline's
// versions, from when it was in force.
type PolicyUnder struct {
	Policy *policy.Policy
	Source string
	From   time.Time
}

// batchSize is how many intents are decoded together by one worker.
const batchSize = 512

// Run replays the intents stored from the start of the warm-up (Since less
// the longest window either policy reads) to Until against both policies,
// each with its own ledger, with the preferences and reply windows of each
// intent's time, and reports what the candidate changes in the period.
// Live counters are never read or written.
func Run(ctx context.Context, js jetstream.JetStream, o Options) (*Report, error) {
	if o.Baseline.Policy == nil || o.Candidate.Policy == nil {
		return nil, errors.New("simulate: a baseline and a candidate policy are needed")
	}
	if o.Examples <= 0 {
		o.Examples = 10
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	baselines := append(slices.Clone(o.Earlier), o.Baseline)
	warm := o.Candidate.Policy.LedgerRetention
	for _, b := range baselines {
		if b.Policy == nil {
			return nil, errors.New("simulate: a baseline version without a policy")
		}
		warm = max(warm, b.Policy.LedgerRetention)
	}
	rep := newReport()
	rep.Since, rep.Until, rep.WarmUpFrom = o.Since.UTC(), o.Until.UTC(), o.Since.Add(-warm).UTC()
	rep.Baseline = PolicyRef{Version: o.Baseline.Policy.Version, Source: o.Baseline.Source}
	rep.Candidate = PolicyRef{Version: o.Candidate.Policy.Version, Source: o.Candidate.Source}
	for _, e := range o.Earlier {
		rep.Earlier = append(rep.Earlier, PolicyRef{Version: e.Policy.Version, Source: e.Source, From: e.From.UTC()})
	}
	if len(o.Earlier) > 0 {
		rep.Baseline.From = o.Baseline.From.UTC()
	}

	hist, err := LoadHistory(ctx, js, o.Subjects)
	if err != nil {
		return nil, err
	}
	var recorded map[string]recordedDecision
	if o.CompareRecorded {
		if recorded, err = loadRecorded(ctx, js, o.Subjects, o.Since); err != nil {
			return nil, err
		}
	}
	r := &replay{o: o, hist: hist, rep: rep, seen: map[intentKey]struct{}{}, recorded: recorded,
		base: side{pols: baselines, ledger: newLedger(warm, true)},
		cand: side{pols: []PolicyUnder{o.Candidate}, ledger: newLedger(o.Candidate.Policy.LedgerRetention, true)}}
	if r.recorded != nil {
		rep.Recorded = &Recorded{}
	}
	if st, err := js.Stream(ctx, o.Subjects.Stream(bus.StreamIntents)); err == nil && st.CachedInfo().State.Msgs > 0 {
		rep.Oldest = st.CachedInfo().State.FirstTime.UTC()
	}
	start := time.Now()
	n, err := ReadIntents(ctx, js, o.Subjects, rep.WarmUpFrom, o.Until, o.Workers, o.Progress, r.evaluate, r.decide)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	rep.Elapsed = Duration(elapsed)
	if elapsed > 0 {
		rep.PerSecond = float64(n) / elapsed.Seconds()
	}
	return rep, nil
}

// side is one policy's replay: the policy (the versions in force over
// time, oldest first) and its private ledger.
type side struct {
	pols   []PolicyUnder
	ledger *Ledger
}

// policyAt is the side's policy in force at a time: the latest version in
// force from then or earlier, or the first before any.
func (s *side) policyAt(t time.Time) *policy.Policy {
	p := s.pols[0].Policy
	for _, v := range s.pols[1:] {
		if v.From.After(t) {
			break
		}
		p = v.Policy
	}
	return p
}

// evaluation is what a policy's rules say of an intent, before the ledger.
type evaluation struct {
	invalid error
	verdict policy.Verdict
}

// evaluate applies the side's rules as the gatekeeper would have at the
// intent's time: validation (an invalid intent is dead-lettered, which the
// report counts as outcome invalid), then the rules with the preferences
// and reply window of that time. It reads nothing that changes during the
// replay, so intents are evaluated in parallel.
func (s *side) evaluate(hist *History, in *Intent) evaluation {
	pol := s.policyAt(in.At)
	if err := pol.Validate(in.Intent, in.Channel); err != nil {
		return evaluation{invalid: err}
	}
	it := in.Intent
	return evaluation{verdict: pol.Evaluate(policy.Input{Intent: it, Prefs: hist.Prefs(it.GetCustomerId(), in.At), Now: in.At,
		ReplyUntil: hist.ReplyUntil(it, in.At, pol.ReplyWindow), Publisher: in.Publisher})}
}

// decide checks an evaluation against the side's ledger and counts it; the
// intents come in stream order.
func (s *side) decide(in *Intent, e *evaluation) Result {
	if e.invalid != nil {
		return Result{Outcome: hushv1.Outcome_OUTCOME_INVALID, Reason: policy.Reason{Code: hushv1.ReasonCode_REASON_CODE_INVALID, Rule: "invalid", Message: e.invalid.Error()}}
	}
	return s.ledger.Decide(in.Intent, &e.verdict, in.At)
}

// replay is one run's state; decide sees the intents in stream order.
type replay struct {
	o          Options
	hist       *History
	rep        *Report
	base, cand side
	seen       map[intentKey]struct{}
	recorded   map[string]recordedDecision
}

// intentKey names an intent: the store keeps decisions by customer and id.
type intentKey struct{ customer, id string }

// evaluate runs in the decoding workers.
func (r *replay) evaluate(in *Intent) {
	if in.Intent != nil {
		in.base, in.cand = r.base.evaluate(r.hist, in), r.cand.evaluate(r.hist, in)
	}
}

func (r *replay) decide(in *Intent) {
	if in.Intent == nil {
		if !in.At.Before(r.o.Since) {
			r.rep.Undecodable++
		}
		return
	}
	n := len(r.seen)
	r.seen[intentKey{in.Intent.GetCustomerId(), in.Intent.GetId()}] = struct{}{} // one map operation, not two
	if len(r.seen) == n {
		if !in.At.Before(r.o.Since) {
			r.rep.Duplicates++
		}
		return
	}
	base, cand := r.base.decide(in, &in.base), r.cand.decide(in, &in.cand)
	if in.At.Before(r.o.Since) {
		r.rep.WarmUp++
		return
	}
	r.rep.add(in.Intent, in.At, &base, &cand, r.o.Examples)
	if r.recorded != nil {
		r.compare(in.Intent, &base, r.base.policyAt(in.At).Version)
	}
}

func (r *replay) compare(it *hushv1.ContactIntent, base *Result, version string) {
	rec := r.rep.Recorded
	d, ok := r.recorded[it.GetId()]
	if !ok {
		rec.Missing++
		return
	}
	rec.Compared++
	if d.version != version {
		rec.OtherVersions++
	}
	b := policy.ShortOutcome(base.Outcome)
	if d.outcome == b {
		rec.Agree++
		return
	}
	rec.Differ++
	if len(rec.Examples) < r.o.Examples {
		rec.Examples = append(rec.Examples, RecordedExample{IntentID: it.GetId(), Recorded: d.outcome, Version: d.version, Baseline: b})
	}
}

// Intent is one recorded intent as the replay sees it.
type Intent struct {
	// Intent is nil when the message could not be decoded.
	Intent *hushv1.ContactIntent
	// At is when the stream stored it: the time it is decided at.
	At time.Time
	// Channel and Publisher are what the subject says (see
	// policy.Publisher).
	Channel   string
	Publisher *policy.Publisher

	base, cand evaluation
}

// ReadIntents reads the intents stream from a time to another (zero: to
// its end as the read begins) with an ordered consumer, decodes the
// intents in parallel (protobuf, or JSON by their Content-Type) and calls
// prepare (when not nil) on each in the decoding goroutines, then calls fn
// for each in stream order from one goroutine. It returns how many it read.
func ReadIntents(ctx context.Context, js jetstream.JetStream, s bus.Subjects, from, until time.Time, workers int, progress func(uint64), prepare, fn func(*Intent)) (uint64, error) {
	name := s.Stream(bus.StreamIntents)
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", name, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 || last == 0 || !from.IsZero() && info.State.LastTime.Before(from) {
		return 0, nil // nothing stored since from: the iterator would wait for it
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if !from.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &from
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The reader hands batches to the decoders and, in the same order, to
	// the caller, who waits for each batch to be decoded.
	type batch struct {
		msgs  []jetstream.Msg
		metas []*jetstream.MsgMetadata // read once, by the reader
		out   []Intent
		ready chan struct{}
	}
	work := make(chan *batch, workers*2)
	ordered := make(chan *batch, workers*4)
	var readErr error
	go func() {
		defer close(work)
		defer close(ordered)
		readErr = readBatches(ctx, c, last, until, func(msgs []jetstream.Msg, metas []*jetstream.MsgMetadata) bool {
			b := &batch{msgs: msgs, metas: metas, ready: make(chan struct{})}
			select {
			case work <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case ordered <- b:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				b.out = make([]Intent, len(b.msgs))
				for i, m := range b.msgs {
					b.out[i] = decodeIntent(s, m, b.metas[i])
					if prepare != nil && (until.IsZero() || !b.out[i].At.After(until)) {
						prepare(&b.out[i])
					}
				}
				close(b.ready)
			}
		}()
	}
	var n uint64
	for b := range ordered {
		select {
		case <-b.ready:
		case <-ctx.Done():
			wg.Wait()
			return n, ctx.Err()
		}
		for i := range b.out {
			in := &b.out[i]
			if !until.IsZero() && in.At.After(until) {
				continue
			}
			fn(in)
			n++
		}
		if progress != nil {
			progress(n)
		}
	}
	wg.Wait()
	if readErr != nil {
		return n, fmt.Errorf("read %s: %w", name, readErr)
	}
	return n, ctx.Err()
}

// readBatches fetches messages up to the stream's last sequence as the read
// began (or the first stored after until) and hands them on in batches.
func readBatches(ctx context.Context, c jetstream.Consumer, last uint64, until time.Time, hand func([]jetstream.Msg, []*jetstream.MsgMetadata) bool) error {
	it, err := c.Messages(jetstream.PullMaxMessages(4 * batchSize))
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	msgs := make([]jetstream.Msg, 0, batchSize)
	metas := make([]*jetstream.MsgMetadata, 0, batchSize)
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		msgs, metas = append(msgs, m), append(metas, meta)
		end := meta.Sequence.Stream >= last || meta.NumPending == 0 || !until.IsZero() && meta.Timestamp.After(until)
		if len(msgs) == batchSize || end {
			if !hand(msgs, metas) {
				return ctx.Err()
			}
			msgs, metas = make([]jetstream.Msg, 0, batchSize), make([]*jetstream.MsgMetadata, 0, batchSize)
		}
		if end {
			return nil
		}
	}
}

// decodeIntent reads one message of the intents stream.
func decodeIntent(s bus.Subjects, m jetstream.Msg, meta *jetstream.MsgMetadata) Intent {
	in := Intent{At: meta.Timestamp}
	it, err := bus.DecodeIntent(m.Data(), m.Headers())
	if err != nil {
		return in
	}
	producer, channel, _ := s.IntentSource(m.Subject())
	in.Intent, in.Channel, in.Publisher = it, channel, &policy.Publisher{Subject: m.Subject(), Producer: producer}
	return in
}

// LoadHistory reads the consent history and the inbound stream whole.
func LoadHistory(ctx context.Context, js jetstream.JetStream, s bus.Subjects) (*History, error) {
	h := NewHistory()
	err := consent.ReadStream(ctx, js, s.Stream(bus.StreamPrefs), time.Time{}, nil, func(m jetstream.Msg) error {
		ch := new(hushv1.PreferenceChange)
		if err := bus.Decode(m.Data(), m.Headers(), ch); err != nil {
			return nil // the gatekeeper never read it either
		}
		h.AddChange(ch)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent history: %w", err)
	}
	err = consent.ReadStream(ctx, js, s.Stream(bus.StreamInbound), time.Time{}, nil, func(m jetstream.Msg) error {
		in := new(hushv1.InboundContact)
		meta, err := m.Metadata()
		if err != nil || bus.Decode(m.Data(), m.Headers(), in) != nil {
			return nil // dead-lettered: it opened no window
		}
		if policy.ValidateInbound(in, s.Channel(m.Subject())) != nil {
			return nil
		}
		h.AddInbound(in, meta.Timestamp)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inbound contacts: %w", err)
	}
	h.seal()
	return h, nil
}

// recordedDecision is the first outcome recorded for an intent.
type recordedDecision struct {
	outcome, version string
	at               time.Time
}

// loadRecorded reads the first recorded outcome of every intent decided
// since a time from the dispatch stream (approvals) and the suppression log
// (every other outcome, deferrals included).
func loadRecorded(ctx context.Context, js jetstream.JetStream, s bus.Subjects, since time.Time) (map[string]recordedDecision, error) {
	out := map[string]recordedDecision{}
	keep := func(id string, d recordedDecision) {
		if cur, ok := out[id]; !ok || d.at.Before(cur.at) {
			out[id] = d
		}
	}
	err := consent.ReadStream(ctx, js, s.Stream(bus.StreamDispatch), since, nil, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if id := bus.Header(m.Headers(), bus.HeaderMsgID); id != "" {
			keep(id, recordedDecision{outcome: policy.ShortOutcome(hushv1.Outcome_OUTCOME_APPROVED), version: bus.Header(m.Headers(), bus.HeaderPolicyVersion), at: meta.Timestamp})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch stream: %w", err)
	}
	err = consent.ReadStream(ctx, js, s.Stream(bus.StreamSuppressed), since, nil, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		rec := new(hushv1.SuppressionRecord)
		if bus.Decode(m.Data(), m.Headers(), rec) != nil {
			return nil
		}
		d := rec.GetDecision()
		keep(d.GetIntentId(), recordedDecision{outcome: policy.ShortOutcome(d.GetOutcome()), version: d.GetPolicyVersion(), at: meta.Timestamp})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("suppression log: %w", err)
	}
	return out, nil
}
