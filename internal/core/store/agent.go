package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// DefaultAgentHold is how long an unsettled agent reservation counts: far
// longer than any redelivery of the intent that made it (which settles it),
// short enough that a reservation orphaned by a crash frees its unit the
// same day.
const DefaultAgentHold = time.Hour

// AgentReservation asks for one unit of an agent's budget of unsolicited
// contacts, on behalf of an intent.
type AgentReservation struct {
	Check    policy.AgentCheck
	IntentID string
	Now      time.Time
	// Hold is how long the reservation counts unless settled
	// (DefaultAgentHold when zero).
	Hold time.Duration
}

// AgentResult is the outcome of ReserveAgent.
type AgentResult struct {
	// Reserved is true when the intent holds a unit (also in shadow mode
	// when the budget was spent: see Over).
	Reserved bool
	// Full is true when the budget was spent before this intent.
	Full bool
	// Count is the agent's contacts in the window before this one.
	Count int
	// Next is when a unit frees up, when Full.
	Next time.Time
}

// Reason is the sentence for a full budget.
func (r AgentResult) Reason(c policy.AgentCheck) policy.Reason {
	return policy.Reason{Code: hushv1.ReasonCode_REASON_CODE_AGENT_CAP, Rule: c.Rule, Message: policy.AgentCapMessage(c, r.Count, r.Next)}
}

// ReserveAgent reserves one unit of the agent's budget for an intent. It
// is idempotent per intent id. In enforce mode a spent budget reserves
// nothing; in shadow mode the unit is reserved anyway (so that the shadow
// cap sees what enforcing it would have counted) and Full reports what it
// would have decided. Every reservation must be settled with SettleAgent.
func (s *Store) ReserveAgent(ctx context.Context, r AgentReservation) (AgentResult, error) {
	hold := r.Hold
	if hold <= 0 {
		hold = DefaultAgentHold
	}
	enforce := "1"
	if r.Check.Shadow {
		enforce = "0"
	}
	keys := []string{s.AgentLedgerKey(r.Check.Agent), s.AgentPendingKey(r.Check.Agent)}
	res, err := agentReserveScript.Run(ctx, s.rdb, keys, r.IntentID, r.Now.UnixMilli(),
		r.Check.Window.Milliseconds(), r.Check.Max, hold.Milliseconds(), enforce).Slice()
	if err != nil {
		return AgentResult{}, fmt.Errorf("reserve agent budget for %s: %w", r.IntentID, err)
	}
	if len(res) != 3 {
		return AgentResult{}, fmt.Errorf("reserve agent budget for %s: unexpected reply %v", r.IntentID, res)
	}
	status, _ := res[0].(string)
	count, _ := res[1].(int64)
	next, _ := res[2].(int64)
	out := AgentResult{Count: int(count)}
	switch status {
	case "ok":
		out.Reserved = true
	case "over":
		out.Reserved, out.Full, out.Next = true, true, time.UnixMilli(next)
	case "full":
		out.Full, out.Next = true, time.UnixMilli(next)
	default:
		return AgentResult{}, fmt.Errorf("reserve agent budget for %s: unexpected status %q", r.IntentID, status)
	}
	return out, nil
}

// SettleAgent confirms an agent reservation (the contact was approved and
// stays counted) or releases it (it was not: the unit returns to the
// budget). Settling twice is harmless.
func (s *Store) SettleAgent(ctx context.Context, agent, intentID string, approved bool) error {
	op := "release"
	if approved {
		op = "confirm"
	}
	keys := []string{s.AgentLedgerKey(agent), s.AgentPendingKey(agent)}
	if err := agentSettleScript.Run(ctx, s.rdb, keys, intentID, op).Err(); err != nil {
		return fmt.Errorf("%s agent reservation %s: %w", op, intentID, err)
	}
	return nil
}

// AgentLedger returns the intents counted against an agent's budget since
// a time (pending reservations included), and how many are still pending.
func (s *Store) AgentLedger(ctx context.Context, agent string, since time.Time) (counted []string, pending int, err error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.AgentLedgerKey(agent), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read agent ledger of %s: %w", agent, err)
	}
	for _, z := range zs {
		counted = append(counted, z.Member.(string))
	}
	n, err := s.rdb.HLen(ctx, s.AgentPendingKey(agent)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read agent reservations of %s: %w", agent, err)
	}
	return counted, int(n), nil
}

// OpenReplyWindow records that a customer reached out on a thread, on a
// channel: until the given end, intents replying to it (in_reply_to) on a
// channel of the same family (policy.ChannelFamily) are not unsolicited.
// A later end already recorded for the thread is kept. It returns the
// window's end.
func (s *Store) OpenReplyWindow(ctx context.Context, customer, channel, thread string, until, now time.Time) (time.Time, error) {
	ms, err := openReplyScript.Run(ctx, s.rdb, []string{s.RepliesKey(customer)}, policy.ReplyThread(channel, thread), until.UnixMilli(), now.UnixMilli()).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("open reply window of %s: %w", customer, err)
	}
	return time.UnixMilli(ms), nil
}

// ReplyWindow returns the end of the reply window a reply on channel to a
// thread finds; zero when none was opened in the channel's family (or it
// was forgotten after closing).
func (s *Store) ReplyWindow(ctx context.Context, customer, channel, thread string) (time.Time, error) {
	ms, err := s.rdb.HGet(ctx, s.RepliesKey(customer), policy.ReplyThread(channel, thread)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read reply window of %s: %w", customer, err)
	}
	return time.UnixMilli(ms), nil
}
