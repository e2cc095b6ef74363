// Package store keeps Hush's state in Redis: customers' preferences, their
// contact ledgers (rolling-window counters) and recorded decisions. Every
// change a decision makes happens in one Lua script call, so replicas racing
// on one customer can never exceed a cap.
//
// All keys of a customer share the hash tag {c:<customer id>}, so the store
// works unchanged on Redis Cluster. Per-agent budgets live under the agent's
// own tag {a:<agent id>} and are reserved before, and settled after, the
// customer's decision (see ReserveAgent).
package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var (
	// guardLua is the preferences-version and reply-window check of the
	// scripts that record a decision (decide.lua, digest_fold.lua).
	//
	//go:embed lua/guard.lua
	guardLua string

	//go:embed lua/decide.lua
	decideLua    string
	decideScript = redis.NewScript(recordsLua + guardLua + decideLua)

	//go:embed lua/set_prefs.lua
	setPrefsLua    string
	setPrefsScript = redis.NewScript(setPrefsLua)

	//go:embed lua/open_reply.lua
	openReplyLua    string
	openReplyScript = redis.NewScript(openReplyLua)

	//go:embed lua/agent_reserve.lua
	agentReserveLua    string
	agentReserveScript = redis.NewScript(agentReserveLua)

	//go:embed lua/agent_settle.lua
	agentSettleLua    string
	agentSettleScript = redis.NewScript(agentSettleLua)
)

// ErrConflict is returned by SetPreferences when the preferences changed
// since the version the caller read.
var ErrConflict = errors.New("preferences changed concurrently")

// rediser is the part of a go-redis client the store uses; *redis.Client,
// *redis.ClusterClient and *redis.Ring all satisfy it.
type rediser interface {
	redis.Scripter
	Get(ctx context.Context, key string) *redis.StringCmd
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
	HGet(ctx context.Context, key, field string) *redis.StringCmd
	HLen(ctx context.Context, key string) *redis.IntCmd
	ZRangeByScoreWithScores(ctx context.Context, key string, opt *redis.ZRangeBy) *redis.ZSliceCmd
}

// Store reads and writes Hush state in Redis under a key prefix.
type Store struct {
	rdb    rediser
	prefix string
	tracer trace.Tracer
}

// New returns a store using keys that start with prefix (e.g. "hush").
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix, tracer: noop.NewTracerProvider().Tracer("")}
}

// WithTracing returns a store that wraps each decision's script call in a
// CLIENT span under the caller's span. The span is made here, on the
// caller's context, because a client hook cannot be relied on for it: an
// auto-pipelining client sends its batches on a background context, so a
// hook's span would start a trace of its own.
func (s *Store) WithTracing(tp trace.TracerProvider) *Store {
	if s == nil {
		return nil
	}
	c := *s
	c.tracer = tp.Tracer("github.com/hush-oss/hush/internal/core/store")
	return &c
}

func (s *Store) key(customer, suffix string) string {
	return s.prefix + ":{c:" + customer + "}:" + suffix
}

// PrefsKey is where a customer's preferences are kept.
func (s *Store) PrefsKey(customer string) string { return s.key(customer, "prefs") }

// LedgerKey is where a customer's recent contacts are counted.
func (s *Store) LedgerKey(customer string) string { return s.key(customer, "ledger") }

// UncappedKey is where a customer's contacts that no cap counts (critical,
// and transactional ones that are not unsolicited) are recorded.
func (s *Store) UncappedKey(customer string) string { return s.key(customer, "uncapped") }

// RepliesKey is where a customer's open reply windows are kept, by thread.
func (s *Store) RepliesKey(customer string) string { return s.key(customer, "replies") }

// AgentLedgerKey is where an agent's unsolicited contacts are counted; it is
// in the agent's own slot, not a customer's.
func (s *Store) AgentLedgerKey(agent string) string {
	return s.prefix + ":{a:" + agent + "}:ledger"
}

// AgentPendingKey holds an agent's reservations not yet settled.
func (s *Store) AgentPendingKey(agent string) string {
	return s.prefix + ":{a:" + agent + "}:pending"
}

// SpanDecide names the CLIENT span of a decision's script call.
const SpanDecide = "hush.decide redis"

// DecideRequest is one intent's decision as the rules made it, to be checked
// against the customer's counters and recorded.
type DecideRequest struct {
	Intent *hushv1.ContactIntent
	// PrefsVersion is the version of the preferences the rules saw; 0 when
	// they saw none.
	PrefsVersion uint64
	Now          time.Time
	Verdict      *policy.Verdict
	// Decision is the decision the rules made; the store may turn an
	// approval into a cap suppression.
	Decision          *hushv1.Decision
	DecisionRetention time.Duration
	LedgerRetention   time.Duration
	// ReplyUntil is the end of the reply window of the intent's
	// in_reply_to thread the rules assumed; zero for none.
	ReplyUntil time.Time
	// Source names the message being decided, "<stream>/<sequence>"; it
	// is recorded with the decision (see DecideResult.Source).
	Source string
	// Turn is the intent's place in its customer's arbitration; nil when
	// it is not arbitrated (see arbitrate.go).
	Turn *Turn
}

// DecideResult is the outcome of Decide.
type DecideResult struct {
	// Decision is the recorded decision; nil when Stale.
	Decision *hushv1.Decision
	// Replayed is true when the intent had been decided before: nothing
	// was counted and the earlier decision is returned.
	Replayed bool
	// Source is, when Replayed, the source of the message that made the
	// recorded decision ("" when unknown): the request's own for a
	// redelivery of that message, another for a producer's republish.
	Source string
	// Stale is true when the preferences changed since PrefsVersion;
	// nothing was recorded. Prefs and PrefsVersion hold the current ones:
	// evaluate again with them.
	Stale        bool
	Prefs        *hushv1.Preferences
	PrefsVersion uint64
	// ReplyUntil is, when Stale, the current end of the reply window of
	// the intent's in_reply_to thread (zero for none).
	ReplyUntil time.Time
	// Behind is, when the intent must wait its turn, the arbitration
	// member of a competitor ranked before it; nothing was recorded.
	Behind string
}

// Decide records a decision in one round trip: it replays an earlier
// decision for the same intent id, refuses stale preferences, checks every
// cap of an approval and counts it, all atomically.
func (s *Store) Decide(ctx context.Context, r DecideRequest) (DecideResult, error) {
	if r.Verdict.Outcome == hushv1.Outcome_OUTCOME_FOLDED {
		return s.fold(ctx, r) // digest.go
	}
	args, err := decideArgs(r)
	if err != nil {
		return DecideResult{}, err
	}
	it := r.Intent
	customer := it.GetCustomerId()
	keys := []string{s.DecisionsKey(customer), s.PrefsKey(customer), s.LedgerKey(customer), s.RepliesKey(customer), s.UncappedKey(customer),
		s.legacyDecisionKey(customer, it.GetId())}
	if r.Turn != nil {
		keys = append(keys, s.ArbitrationKey(customer), s.ArbitrationWinsKey(customer))
	}
	keys = append(keys, s.EventsKey(customer)) // the last: decide.lua reads it as KEYS[#KEYS]
	ctx, span := s.tracer.Start(ctx, SpanDecide, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system", "redis"), attribute.String("db.system.name", "redis"),
		attribute.String("db.operation.name", "EVALSHA"), attribute.String("hush.customer_id", customer)))
	defer span.End()
	res, err := decideScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "decide script")
		return DecideResult{}, fmt.Errorf("decide %s: %w", it.GetId(), err)
	}
	return decideReply(r, res)
}

// decideArgs are the ARGV of decide.lua for a request.
func decideArgs(r DecideRequest) ([]any, error) {
	blob, err := encodeDecision(r.Decision)
	if err != nil {
		return nil, err
	}
	it := r.Intent
	approved := "0"
	var caps []policy.CapCheck
	if r.Verdict.Approved() {
		approved, caps = "1", r.Verdict.Caps
	}
	// A reply finds the window its thread opened in its channel's family
	// only: an SMS answers nothing by email.
	thread := policy.ReplyThread(it.GetChannel(), it.GetInReplyTo())
	assumed := ""
	if thread != "" && !r.ReplyUntil.IsZero() {
		assumed = strconv.FormatInt(r.ReplyUntil.UnixMilli(), 10)
	}
	capped := "0"
	if r.Verdict.Capped() {
		capped = "1"
	}
	args := make([]any, 0, 13+8*len(caps)+budgetArgs(len(caps)))
	args = append(args,
		strconv.FormatUint(r.PrefsVersion, 10),
		r.Now.UnixMilli(),
		r.DecisionRetention.Milliseconds(),
		r.LedgerRetention.Milliseconds(),
		ledgerMember(it, r.Verdict.Unsolicited, r.Verdict.Class),
		approved,
		blob,
		thread,
		assumed,
		capped,
		len(caps),
	)
	for _, c := range caps {
		enforce := "1"
		if c.Shadow {
			enforce = "0"
		}
		args = append(args, c.Rule, int32(c.Code), int(c.Scope), c.Value, c.Window.Milliseconds(), c.Max, enforce, c.Classes)
	}
	args = append(args, r.Source, it.GetId())
	tail := len(args) + 2 // after the intent's deadline and the start of its wait
	return trimDefaults(appendPackArgs(appendBudget(args, r, caps), caps, r.Verdict), tail), nil
}

// trimDefaults drops from the end of args, down to from, the arguments
// that decide.lua reads as missing anyway ("" or 0: no arbitration, no
// reserved budget or wait, no pack, no cooldown). Redis spends about
// 0.15 µs of CPU on each argument of a script call, and the default
// policy's approvals leave off 18 of them.
func trimDefaults(args []any, from int) []any {
	for len(args) > from {
		switch v := args[len(args)-1].(type) {
		case string:
			if v != "" {
				return args
			}
		case int:
			if v != 0 {
				return args
			}
		case int64:
			if v != 0 {
				return args
			}
		default:
			return args
		}
		args = args[:len(args)-1]
	}
	return args
}

// decideReply reads decide.lua's reply. A new decision is the request's,
// with the caps that said no applied to it: only a replay decodes a record.
func decideReply(r DecideRequest, res []string) (DecideResult, error) {
	id := r.Intent.GetId()
	switch {
	case len(res) == 2 && res[0] == "replay":
		d, err := readRecord(res[1], r.Intent.GetCustomerId(), id)
		return DecideResult{Decision: d, Replayed: true, Source: recordSource(res[1])}, err
	case len(res) == 2 && res[0] == "done":
		return DecideResult{Decision: r.Decision}, applyHits(r.Decision, res[1])
	case len(res) == 2 && res[0] == "wait":
		return DecideResult{Behind: res[1]}, nil
	case len(res) == 4 && res[0] == "stale":
		p, v, err := decodePrefs(res[1], res[2])
		out := DecideResult{Stale: true, Prefs: p, PrefsVersion: v}
		if res[3] != "" {
			ms, perr := strconv.ParseInt(res[3], 10, 64)
			if perr != nil {
				return DecideResult{}, fmt.Errorf("decide %s: reply window %q: %w", id, res[3], perr)
			}
			out.ReplyUntil = time.UnixMilli(ms)
		}
		return out, err
	}
	return DecideResult{}, fmt.Errorf("decide %s: unexpected reply %q", id, res)
}

// Decision returns the recorded decision for an intent, or nil when there
// is none (never decided, or past the decision retention).
func (s *Store) Decision(ctx context.Context, customer, intentID string) (*hushv1.Decision, error) {
	_, d, err := s.record(ctx, customer, intentID)
	return d, err
}

// Preferences returns a customer's preferences and their version; nil and 0
// when none are recorded.
func (s *Store) Preferences(ctx context.Context, customer string) (*hushv1.Preferences, uint64, error) {
	vals, err := s.rdb.HMGet(ctx, s.PrefsKey(customer), "v", "p").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read preferences of %s: %w", customer, err)
	}
	v, _ := vals[0].(string)
	p, _ := vals[1].(string)
	if v == "" {
		v = "0"
	}
	return decodePrefs(v, p)
}

// SetPreferences replaces a customer's preferences. With ifVersion set, the
// write happens only if the current version is *ifVersion (else
// ErrConflict). It returns the new version and the previous preferences
// (nil when there were none). Once it returns, no decision made afterwards
// sees the old preferences.
func (s *Store) SetPreferences(ctx context.Context, customer string, p *hushv1.Preferences, ifVersion *uint64) (uint64, *hushv1.Preferences, error) {
	blob, err := proto.Marshal(p)
	if err != nil {
		return 0, nil, fmt.Errorf("encode preferences: %w", err)
	}
	expect := ""
	if ifVersion != nil {
		expect = strconv.FormatUint(*ifVersion, 10)
	}
	res, err := setPrefsScript.Run(ctx, s.rdb, []string{s.PrefsKey(customer)}, expect, blob).Slice()
	if err != nil {
		if strings.HasPrefix(err.Error(), "CONFLICT") {
			return 0, nil, fmt.Errorf("%w: %s is at version %s", ErrConflict, customer, strings.TrimPrefix(err.Error(), "CONFLICT "))
		}
		return 0, nil, fmt.Errorf("write preferences of %s: %w", customer, err)
	}
	v, _ := res[0].(int64)
	oldBlob, _ := res[1].(string)
	var old *hushv1.Preferences
	if oldBlob != "" {
		old = new(hushv1.Preferences)
		if err := proto.Unmarshal([]byte(oldBlob), old); err != nil {
			return 0, nil, fmt.Errorf("decode previous preferences of %s: %w", customer, err)
		}
	}
	return uint64(v), old, nil
}

// Ledger returns a customer's counted contacts since a time, oldest first:
// those caps count and those they never do (critical, transactional).
func (s *Store) Ledger(ctx context.Context, customer string, since time.Time) ([]Contact, error) {
	var out []Contact
	for _, key := range []string{s.LedgerKey(customer), s.UncappedKey(customer)} {
		zs, err := s.rdb.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf",
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("read ledger of %s: %w", customer, err)
		}
		for _, z := range zs {
			out = append(out, decodeMember(z.Member.(string), time.UnixMilli(int64(z.Score))))
		}
	}
	slices.SortStableFunc(out, func(a, b Contact) int { return a.At.Compare(b.At) })
	return out, nil
}

func decodePrefs(version, blob string) (*hushv1.Preferences, uint64, error) {
	v, err := strconv.ParseUint(version, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("preferences version %q: %w", version, err)
	}
	if blob == "" {
		return nil, v, nil
	}
	p := new(hushv1.Preferences)
	if err := proto.Unmarshal([]byte(blob), p); err != nil {
		return nil, 0, fmt.Errorf("decode preferences: %w", err)
	}
	return p, v, nil
}

// DecisionSource returns the source recorded with an intent's decision
// (see DecideRequest.Source); "" when there is no decision or no source.
func (s *Store) DecisionSource(ctx context.Context, customer, intentID string) (string, error) {
	rec, err := s.liveRecord(ctx, customer, intentID)
	return recordSource(rec), err
}

// recordSource returns the source a record names, "" when it names none.
func recordSource(rec string) string {
	src, _ := cutSource(rec)
	return src
}

// cutSource splits a record into the source it names, if any, and the rest.
func cutSource(rec string) (source, rest string) {
	if body, ok := strings.CutPrefix(rec, "\x1c"); ok {
		if src, after, ok := strings.Cut(body, "\x1c"); ok {
			return src, after
		}
	}
	return "", rec
}

// decodeRecord rebuilds a decision from its record: the rules' decision
// with the caps that said no applied to it.
func decodeRecord(rec string) (*hushv1.Decision, error) {
	_, rec = cutSource(rec)
	hits, blob, ok := strings.Cut(rec, "\x1e")
	if !ok {
		return nil, fmt.Errorf("decision record without separator")
	}
	d := new(hushv1.Decision)
	if err := proto.Unmarshal([]byte(blob), d); err != nil {
		return nil, fmt.Errorf("decode decision record: %w", err)
	}
	return d, applyHits(d, hits)
}

// applyHits applies a record's cap hits to the rules' decision d.
func applyHits(d *hushv1.Decision, hits string) error {
	if hits == "" {
		return nil
	}
	for _, h := range strings.Split(hits, "\x1d") {
		f := strings.Split(h, "\x1f")
		if len(f) != 9 && len(f) != 10 && len(f) != 10+packHitFields {
			return fmt.Errorf("decision record: cap hit %q has %d fields", h, len(f))
		}
		code, _ := strconv.Atoi(f[1])
		scope, _ := strconv.Atoi(f[2])
		window, _ := strconv.ParseInt(f[4], 10, 64)
		limit, _ := strconv.Atoi(f[5])
		count, _ := strconv.Atoi(f[6])
		next, _ := strconv.ParseInt(f[7], 10, 64)
		c := policy.CapCheck{Rule: f[0], Code: hushv1.ReasonCode(code), Scope: policy.Scope(scope), Value: f[3],
			Window: time.Duration(window) * time.Millisecond, Max: limit, Shadow: f[8] == "0"}
		r := &hushv1.Reason{Code: c.Code, Rule: c.Rule, Message: policy.CapMessage(c, count, time.UnixMilli(next))}
		if len(f) == 10+packHitFields {
			// A pack's hit: its detail (possibly empty), then its pack fields.
			r = packReason(c, f, count)
			if f = f[:10]; f[9] == "" {
				f = f[:9]
			}
		}
		if len(f) == 10 || f[8] == "d" {
			r.Message = budgetMessage(c, count, time.UnixMilli(next), f, d)
		}
		if c.Shadow {
			d.ShadowReasons = append(d.ShadowReasons, r)
			continue
		}
		if budgetApplies(d, r, f, time.UnixMilli(next)) {
			continue
		}
		d.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
		d.Reasons = append(d.Reasons, r)
		d.NextAllowedAt = nextAllowedAt(d.GetNextAllowedAt(), time.UnixMilli(next))
	}
	return nil
}
