package store

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Arbitration: when several intents of one customer compete for the same
// slots at one moment (a burst, or deferrals released at the end of the
// same quiet hours), Redis is the arbiter. Each intent with caps to check
// joins its customer's arbitration (a zset under the customer's hash tag)
// with a rank: its priority, then its age, then its id. It waits out the
// arbitration window, so that competitors arriving within it join too, and
// then decide.lua lets it decide only when no live competitor ranks before
// it. The decisions are therefore made one by one in rank order, whichever
// replica holds which intent: the highest priority takes the slots, ties go
// to the oldest, and the result is the same on every replica. A competitor
// whose gatekeeper stopped holds its place only until its lease ends.

var (
	//go:embed lua/arbitrate_join.lua
	arbitrateJoinLua    string
	arbitrateJoinScript = redis.NewScript(arbitrateJoinLua)
)

// Arbitration timing.
const (
	// turnLease is how long, beyond the window, an intent holds its place
	// without renewing it: a competitor whose gatekeeper stopped delays the
	// others by at most this.
	turnLease = 2 * time.Second
	// turnPatience is how long, beyond the window, an intent waits for
	// its turn before it is decided regardless of rank (caps still hold;
	// only who takes the slot is no longer arbitrated).
	turnPatience = 5 * time.Second
	// turnPoll is how often a waiting intent asks whether its turn came.
	turnPoll = 10 * time.Millisecond
)

// ArbitrationKey holds the customer's competitors for slots (see Turn).
func (s *Store) ArbitrationKey(customer string) string { return s.key(customer, "arb") }

// ArbitrationWinsKey holds, briefly, the priority of each intent that took
// a slot in arbitration, so that a loser's reason can name it.
func (s *Store) ArbitrationWinsKey(customer string) string { return s.key(customer, "arbw") }

// Turn is an intent's place in its customer's arbitration.
type Turn struct {
	// Member is its rank (see Rank).
	Member string
	// Since is when it joined, on the decisions' clock: a slot taken from
	// then on was taken by a competitor ranked before it.
	Since time.Time
	// Force decides without waiting for the competitors ranked before it.
	Force bool
	// Lease is how long its place holds without a renewal.
	Lease time.Duration
}

// Rank is an intent's arbitration member: members sort (as strings) in the
// order the competitors are decided: highest priority first, then oldest
// (created_at, else when it joined), then by intent id.
func Rank(pr policy.Priority, age time.Time, intentID string) string {
	ms := max(age.UnixMilli(), 0)
	return fmt.Sprintf("%d%015d|%s", 9-int(pr), ms, intentID)
}

// turnState is one intent's arbitration across DecideFresh's attempts.
type turnState struct {
	turn   *Turn
	giveUp time.Time
}

// decideInTurn records a decision, first taking the intent's turn in its
// customer's arbitration when the policy arbitrates and the verdict has
// caps to check. After the window it decides with the clock read again,
// so that the contact is counted at the instant it is decided.
func (s *Store) decideInTurn(ctx context.Context, ts *turnState, r DecideRequest, window time.Duration, clock func() time.Time) (DecideResult, error) {
	if window <= 0 || !r.Verdict.Approved() || len(r.Verdict.Caps) == 0 {
		if ts.turn != nil { // joined, then re-evaluated without caps: leave
			r.Turn = &Turn{Member: ts.turn.Member, Since: ts.turn.Since, Force: true, Lease: ts.turn.Lease}
		}
		return s.Decide(ctx, r)
	}
	if clock == nil {
		clock = time.Now
	}
	if ts.turn == nil {
		it := r.Intent
		age := r.Now
		if c := it.GetCreatedAt(); c != nil && c.AsTime().Before(age) {
			age = c.AsTime()
		}
		pr, _ := policy.ParsePriority(r.Decision.GetPriority())
		t := &Turn{Member: Rank(pr, age, it.GetId()), Since: r.Now, Lease: window + turnLease}
		if err := arbitrateJoinScript.Run(ctx, s.rdb, []string{s.ArbitrationKey(it.GetCustomerId())}, t.Member, t.Lease.Milliseconds()).Err(); err != nil {
			return DecideResult{}, fmt.Errorf("arbitrate %s: %w", it.GetId(), err)
		}
		ts.turn, ts.giveUp = t, time.Now().Add(window+turnPatience)
		if err := sleep(ctx, window); err != nil {
			return DecideResult{}, err
		}
	}
	for {
		r.Now = clock()
		r.Decision.DecidedAt = timestamppb.New(r.Now)
		t := *ts.turn
		t.Force = time.Now().After(ts.giveUp)
		r.Turn = &t
		res, err := s.Decide(ctx, r)
		if err != nil || res.Behind == "" {
			return res, err
		}
		if err := sleep(ctx, turnPoll); err != nil {
			return DecideResult{}, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// budgetArgs is how many ARGV appendBudget appends for n caps.
func budgetArgs(n int) int { return 7 + 3*n }

// appendBudget appends decide.lua's ARGV for priority, reserved budget,
// arbitration and waiting (named at the top of the script).
func appendBudget(args []any, r DecideRequest, caps []policy.CapCheck) []any {
	it := r.Intent
	deadline := ""
	if na := it.GetNotAfter(); na != nil {
		deadline = strconv.FormatInt(na.AsTime().UnixMilli(), 10)
	}
	// A cap's wait is counted from the intent's creation, so that an
	// intent deferred again at its release never waits longer in all.
	since := r.Now
	if c := it.GetCreatedAt(); c != nil && c.AsTime().Before(since) {
		since = c.AsTime()
	}
	member, joined, force, lease := "", "", "", int64(0)
	if t := r.Turn; t != nil {
		member, joined, lease = t.Member, strconv.FormatInt(t.Since.UnixMilli(), 10), t.Lease.Milliseconds()
		if t.Force {
			force = "1"
		}
	}
	args = append(args, deadline, since.UnixMilli(), member, joined, force, lease, r.Decision.GetPriority())
	for _, c := range caps {
		wait := ""
		if c.MaxWait > 0 {
			wait = strconv.FormatInt(c.MaxWait.Milliseconds(), 10)
		}
		args = append(args, c.Reserve, c.ReservedFor.String(), wait)
	}
	return args
}

// budgetMessage is the sentence of a cap hit made by a reserved budget, a
// lost arbitration, a deferral or an exceeded wait (f is the hit's fields;
// f[9], when present, its detail).
func budgetMessage(c policy.CapCheck, count int, next time.Time, f []string, d *hushv1.Decision) string {
	detail := ""
	if len(f) == 10 {
		detail = f[9]
	}
	var msg string
	switch c.Code {
	case hushv1.ReasonCode_REASON_CODE_RESERVED_BUDGET:
		c.ReservedFor, _ = policy.ParsePriority(detail)
		msg = policy.ReservedMessage(c, count, d.GetPriority(), next)
	case hushv1.ReasonCode_REASON_CODE_LOST_ARBITRATION:
		pr, class, _ := strings.Cut(detail, ":")
		msg = policy.LostMessage(c, count, pr, class, next)
	case hushv1.ReasonCode_REASON_CODE_CAP_WAIT_EXCEEDED:
		ms, _ := strconv.ParseInt(detail, 10, 64)
		c.MaxWait = time.Duration(ms) * time.Millisecond
		msg = policy.WaitExceededMessage(c, count, detail == "deadline", next)
	default:
		msg = policy.CapMessage(c, count, next)
	}
	if f[8] == "d" {
		msg = policy.DeferredMessage(msg, next)
	}
	return msg
}

// budgetApplies applies an enforcing hit of the reserved budget, the
// arbitration or a cap that defers to the decision, and reports whether it
// did: a deferral to the instant the window frees a slot, or a suppression
// that names that instant.
func budgetApplies(d *hushv1.Decision, r *hushv1.Reason, f []string, next time.Time) bool {
	if len(f) != 10 && f[8] != "d" {
		return false
	}
	d.Reasons = append(d.Reasons, r)
	d.NextAllowedAt = timestamppb.New(next)
	if f[8] == "d" {
		d.Outcome = hushv1.Outcome_OUTCOME_DEFERRED
		d.ReleaseAt = timestamppb.New(next)
		return true
	}
	d.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
	return true
}
