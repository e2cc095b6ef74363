package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var (
	//go:embed lua/readonly.lua
	readonlyLua string
	// checkScript is decide.lua run dry: the same replay, preferences,
	// reply-window and cap logic, with every write answered and not done
	// (see readonly.lua). It is built from the decide script's own text,
	// so a check can never drift from what the gate decides.
	checkScript = redis.NewScript(readonlyLua + recordsLua + guardLua + decideLua)
)

// checkChunk is how many scripts one pipeline sends: large enough that the
// round trips vanish, small enough that a batch's replies are not all held
// at once.
const checkChunk = 2000

// checkPipelines is how many of those pipelines one batch keeps in flight.
const checkPipelines = 2

// decideKeys are the KEYS of decide.lua's dry run for a request, as
// Decide passes them. A check's request takes no turn (Decide's
// arbitration): it is not competing for a slot.
func (s *Store) decideKeys(r DecideRequest) []string {
	customer := r.Intent.GetCustomerId()
	keys := []string{s.DecisionsKey(customer), s.PrefsKey(customer), s.LedgerKey(customer), s.RepliesKey(customer), s.UncappedKey(customer),
		s.legacyDecisionKey(customer, r.Intent.GetId())}
	if r.Turn != nil {
		keys = append(keys, s.ArbitrationKey(customer), s.ArbitrationWinsKey(customer))
	}
	return append(keys, s.EventsKey(customer)) // the last: decide.lua reads it as KEYS[#KEYS]
}

// CheckOptions say how Check answers.
type CheckOptions struct {
	// Policy is the policy to answer with: the policy in force.
	Policy *policy.Policy
	// Publisher is the producer asking, as its credential proves it (see
	// policy.Input); nil when the caller vouches for the intents' senders.
	Publisher *policy.Publisher
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// pipeliner is what Check needs beyond rediser: every go-redis client has it.
type pipeliner interface {
	Pipeline() redis.Pipeliner
}

// Check answers "may I contact?" for a batch of intents without counting,
// reserving or recording anything: each answer is the decision the gate
// would make for the intent now, with the state Redis holds now. The rules
// are evaluated by the gate's own path (Fresh.request) and the store's
// part by a dry run of the decide script, all in pipelines: one round of
// preference reads, then one round of scripts per 2000 intents. An intent
// that fails validation gets an invalid answer saying why; only a failure
// of Redis is an error. Answers are advisory: the gate decides again when
// the intent is published, and a batch that contacts one customer twice is
// answered as if each intent were the only one.
func (s *Store) Check(ctx context.Context, o CheckOptions, its []*hushv1.ContactIntent) ([]*hushv1.CheckAnswer, error) {
	p, ok := s.rdb.(pipeliner)
	if !ok {
		return nil, errors.New("check: the Redis client does not pipeline")
	}
	answers := make([]*hushv1.CheckAnswer, len(its))
	var todo []int
	for i, it := range its {
		if err := o.Policy.Validate(it, it.GetChannel()); err != nil {
			answers[i] = &hushv1.CheckAnswer{IntentId: it.GetId(), Outcome: hushv1.Outcome_OUTCOME_INVALID, Error: err.Error()}
			continue
		}
		todo = append(todo, i)
	}
	seen, err := s.seenAll(ctx, p, its, todo)
	if err != nil {
		return nil, err
	}
	f := Fresh{Policy: o.Policy, Publisher: o.Publisher, Now: o.Now, Before: s.peekAgent}
	if err := checkScript.Load(ctx, s.rdb).Err(); err != nil {
		return nil, fmt.Errorf("check: load script: %w", err)
	}
	for range freshAttempts {
		// A few pipelines in flight keep Redis busy while the next chunk's
		// rules are evaluated.
		var mu sync.Mutex
		var stale []int
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(checkPipelines)
		for chunk := range slices.Chunk(todo, checkChunk) {
			g.Go(func() error {
				again, err := s.checkChunk(gctx, p, f, its, chunk, seen, answers)
				mu.Lock()
				stale = append(stale, again...)
				mu.Unlock()
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		if todo = stale; len(todo) == 0 {
			return answers, nil
		}
	}
	return nil, fmt.Errorf("check %s: %w", its[todo[0]].GetId(), ErrKeptChanging)
}

// checkChunk runs the dry decide script for the intents at idx in one
// pipeline and fills in their answers. It returns the intents whose
// preferences or reply window changed since they were read (seen is
// updated for them): they are checked again.
func (s *Store) checkChunk(ctx context.Context, p pipeliner, f Fresh, its []*hushv1.ContactIntent, idx []int, seen []Seen, answers []*hushv1.CheckAnswer) ([]int, error) {
	pipe := p.Pipeline()
	cmds := make([]*redis.Cmd, len(idx))
	reqs := make([]DecideRequest, len(idx))
	for j, i := range idx {
		req, err := f.request(ctx, its[i], seen[i])
		if err != nil {
			return nil, err
		}
		reqs[j] = req
		args, err := decideArgs(req)
		if err != nil {
			return nil, err
		}
		cmds[j] = checkScript.EvalSha(ctx, pipe, s.decideKeys(req), args...)
	}
	pipe.Exec(ctx) // errors are read per command below
	var stale []int
	for j, i := range idx {
		it := its[i]
		res, err := cmds[j].StringSlice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Flushed since it was loaded: this one runs alone, with EVAL.
			req, rerr := f.request(ctx, it, seen[i])
			if rerr != nil {
				return nil, rerr
			}
			args, rerr := decideArgs(req)
			if rerr != nil {
				return nil, rerr
			}
			res, err = checkScript.Run(ctx, s.rdb, s.decideKeys(req), args...).StringSlice()
			reqs[j] = req
		}
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", it.GetId(), err)
		}
		r, err := decideReply(reqs[j], res)
		if err != nil {
			return nil, err
		}
		if r.Stale {
			seen[i] = Seen{Prefs: r.Prefs, PrefsVersion: r.PrefsVersion, ReplyUntil: r.ReplyUntil}
			stale = append(stale, i)
			continue
		}
		answers[i] = Answer(r.Decision)
	}
	return stale, nil
}

// Answer is what a check says of a decision: its outcome and reasons, and
// when the intent could pass if it would not pass now: the decision's
// next_allowed_at (a counted rule said no), or its release time (it would
// be deferred).
func Answer(d *hushv1.Decision) *hushv1.CheckAnswer {
	a := &hushv1.CheckAnswer{IntentId: d.GetIntentId(), Outcome: d.GetOutcome(), Reasons: d.GetReasons(), NextAllowedAt: d.GetNextAllowedAt()}
	if a.NextAllowedAt == nil && d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
		a.NextAllowedAt = d.GetReleaseAt()
	}
	return a
}

// seenAll reads, in one pipeline, what the rules need for the intents at
// idx: each customer's preferences (once per customer) and the reply
// window each reply answers.
func (s *Store) seenAll(ctx context.Context, p pipeliner, its []*hushv1.ContactIntent, idx []int) ([]Seen, error) {
	seen := make([]Seen, len(its))
	pipe := p.Pipeline()
	prefs := map[string]*redis.SliceCmd{}
	replies := map[int]*redis.StringCmd{}
	for _, i := range idx {
		it := its[i]
		c := it.GetCustomerId()
		if _, ok := prefs[c]; !ok {
			prefs[c] = pipe.HMGet(ctx, s.PrefsKey(c), "v", "p")
		}
		if thread := policy.ReplyThread(it.GetChannel(), it.GetInReplyTo()); thread != "" {
			replies[i] = pipe.HGet(ctx, s.RepliesKey(c), thread)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("check: read preferences: %w", err)
	}
	decoded := make(map[string]Seen, len(prefs))
	for c, cmd := range prefs {
		vals := cmd.Val()
		v, _ := vals[0].(string)
		blob, _ := vals[1].(string)
		if v == "" {
			v = "0"
		}
		pr, ver, err := decodePrefs(v, blob)
		if err != nil {
			return nil, fmt.Errorf("check: preferences of %s: %w", c, err)
		}
		decoded[c] = Seen{Prefs: pr, PrefsVersion: ver}
	}
	for _, i := range idx {
		seen[i] = decoded[its[i].GetCustomerId()]
		if cmd, ok := replies[i]; ok {
			if ms, err := strconv.ParseInt(cmd.Val(), 10, 64); err == nil {
				seen[i].ReplyUntil = time.UnixMilli(ms)
			}
		}
	}
	return seen, nil
}

// peekAgent is Check's Before: what ReserveAgent would answer, read without
// reserving. A spent budget turns the verdict into a suppression the way the
// gate's reservation does (AgentResult.ApplyTo).
func (s *Store) peekAgent(ctx context.Context, v *policy.Verdict, now time.Time) error {
	a := v.Agent
	if !v.Approved() || a.Agent == "" {
		return nil
	}
	p, ok := s.rdb.(pipeliner)
	if !ok {
		return errors.New("check: the Redis client does not pipeline")
	}
	pipe := p.Pipeline()
	ledger := pipe.ZRangeByScoreWithScores(ctx, s.AgentLedgerKey(a.Agent), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now.Add(-a.Window).UnixMilli(), 10), Max: "+inf"})
	pending := pipe.HGetAll(ctx, s.AgentPendingKey(a.Agent))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("check: read agent budget of %s: %w", a.Agent, err)
	}
	// Reservations whose hold has passed no longer count (agent_reserve.lua
	// drops them before counting).
	var times []int64
	for _, z := range ledger.Val() {
		if hold, ok := pending.Val()[z.Member.(string)]; ok {
			if ms, err := strconv.ParseInt(hold, 10, 64); err == nil && ms <= now.UnixMilli() {
				continue
			}
		}
		times = append(times, int64(z.Score))
	}
	if len(times) < a.Max {
		return nil
	}
	r := AgentResult{Full: true, Count: len(times), Next: time.UnixMilli(times[len(times)-a.Max] + a.Window.Milliseconds())}
	r.ApplyTo(v, a)
	return nil
}

// ApplyTo makes a full budget part of a verdict: a suppression by the
// agent cap, or a shadow reason when the cap is in shadow mode. The gate's
// reservation and the check's peek both use it.
func (r AgentResult) ApplyTo(v *policy.Verdict, c policy.AgentCheck) {
	if !r.Full {
		return
	}
	reason := r.Reason(c)
	if c.Shadow {
		v.Shadow = append(v.Shadow, reason)
		return
	}
	v.Outcome, v.Reason, v.Caps = hushv1.Outcome_OUTCOME_SUPPRESSED, reason, nil
}

// nextAllowedAt is the decision's next_allowed_at once a counted rule that
// frees a slot at next said no: the latest of the rules that said no, since
// the intent passes only when every one of them would let it.
func nextAllowedAt(cur *timestamppb.Timestamp, next time.Time) *timestamppb.Timestamp {
	if cur != nil && !cur.AsTime().Before(next) {
		return cur
	}
	return timestamppb.New(next)
}

// ShortAnswer is an answer in a few words, for logs and examples:
// "suppressed frequency_cap until 2026-11-29T10:02Z".
func ShortAnswer(a *hushv1.CheckAnswer) string {
	var b strings.Builder
	b.WriteString(policy.ShortOutcome(a.GetOutcome()))
	for _, r := range a.GetReasons() {
		b.WriteString(" " + policy.ShortCode(r.GetCode()))
	}
	if a.GetNextAllowedAt() != nil {
		b.WriteString(" until " + policy.Stamp(a.GetNextAllowedAt().AsTime()))
	}
	if a.GetError() != "" {
		b.WriteString(": " + a.GetError())
	}
	return b.String()
}
