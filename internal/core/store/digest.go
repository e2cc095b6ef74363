package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var (
	//go:embed lua/digest_fold.lua
	digestFoldLua    string
	digestFoldScript = redis.NewScript(recordsLua + guardLua + digestFoldLua)

	//go:embed lua/digest_release.lua
	digestReleaseLua    string
	digestReleaseScript = redis.NewScript(digestReleaseLua)
)

// PendingDigestKey is a pending digest: its release time and trigger, and
// how many intents it holds. The intents are beside it (":o" their order,
// ":i" the intents).
func (s *Store) PendingDigestKey(customer, digestID string) string {
	return s.key(customer, "dg:"+digestID)
}

// OpenDigestKey holds the id of the customer's open digest on a channel:
// the one folds go to until it is full or released.
func (s *Store) OpenDigestKey(customer, channel string) string {
	return s.key(customer, "dgo:"+channel)
}

// ReleasedDigestKey is where a released digest's intents are kept for the
// decision retention, so that its release replays.
func (s *Store) ReleasedDigestKey(customer, digestID string) string {
	return s.key(customer, "dgr:"+digestID)
}

// DigestDecisionsKey is where the decisions of a customer's released
// digests, each decided as one contact, are recorded (a hash like
// DecisionsKey, a field per digest id): apart from intents' decisions, so
// that no producer's intent id can take a digest's place.
func (s *Store) DigestDecisionsKey(customer string) string {
	return s.key(customer, "dgd")
}

// noLegacyDigestDecision stands for decide.lua's key of a record written
// before records were kept in one hash: digests came after, so there is
// never one (a key of the customer's hash tag that nothing writes).
func (s *Store) noLegacyDigestDecision(customer string) string {
	return s.key(customer, "dgd:-")
}

// DigestID is the id of the n-th digest of a customer on a channel.
func DigestID(customer, channel string, n int64) string {
	return digestIDPrefix(customer, channel) + strconv.FormatInt(n, 10)
}

func digestIDPrefix(customer, channel string) string {
	return "dg:" + customer + ":" + channel + ":"
}

// fold records a folded intent's decision and adds the intent to the
// customer's pending digest for its channel, in one step (digest_fold.lua).
func (s *Store) fold(ctx context.Context, r DecideRequest) (DecideResult, error) {
	it := r.Intent
	customer, channel := it.GetCustomerId(), it.GetChannel()
	blob, err := proto.Marshal(r.Decision)
	if err != nil {
		return DecideResult{}, fmt.Errorf("encode decision: %w", err)
	}
	intent, err := proto.Marshal(it)
	if err != nil {
		return DecideResult{}, fmt.Errorf("encode intent: %w", err)
	}
	thread := policy.ReplyThread(channel, it.GetInReplyTo())
	assumed := ""
	if thread != "" && !r.ReplyUntil.IsZero() {
		assumed = strconv.FormatInt(r.ReplyUntil.UnixMilli(), 10)
	}
	keys := []string{s.DecisionsKey(customer), s.PrefsKey(customer), s.RepliesKey(customer),
		s.OpenDigestKey(customer, channel), s.key(customer, "dgn"), s.legacyDecisionKey(customer, it.GetId())}
	v := r.Verdict
	res, err := digestFoldScript.Run(ctx, s.rdb, keys,
		strconv.FormatUint(r.PrefsVersion, 10), thread, assumed, blob, it.GetId(), intent,
		v.ReleaseAt.UnixMilli(), v.Digest.Trigger, v.Digest.WakeAt.UnixMilli(), v.Digest.Max,
		r.DecisionRetention.Milliseconds(), r.Source, channel, digestIDPrefix(customer, channel), s.key(customer, "dg:"),
		r.Now.UnixMilli(),
	).StringSlice()
	if err != nil {
		return DecideResult{}, fmt.Errorf("fold %s: %w", it.GetId(), err)
	}
	if len(res) == 2 && res[0] == "done" {
		// (a fold's record carries the digest id the script chose)
		d, err := readRecord(res[1], customer, it.GetId())
		return DecideResult{Decision: d}, err
	}
	return decideReply(r, res)
}

// PendingDigest is a customer's digest on a channel not yet released.
type PendingDigest struct {
	ID        string
	ReleaseAt time.Time
	Trigger   string
	// Count is how many intents it holds.
	Count int
}

// OpenDigest returns the customer's open digest on a channel; ok is false
// when there is none.
func (s *Store) OpenDigest(ctx context.Context, customer, channel string) (PendingDigest, bool, error) {
	id, err := s.rdb.Get(ctx, s.OpenDigestKey(customer, channel)).Result()
	if errors.Is(err, redis.Nil) {
		return PendingDigest{}, false, nil
	}
	if err != nil {
		return PendingDigest{}, false, fmt.Errorf("read open digest of %s: %w", customer, err)
	}
	return s.PendingDigest(ctx, customer, id)
}

// PendingDigest returns a customer's digest that is pending (folded into
// and not yet released); ok is false when it is not.
func (s *Store) PendingDigest(ctx context.Context, customer, id string) (PendingDigest, bool, error) {
	vals, err := s.rdb.HMGet(ctx, s.PendingDigestKey(customer, id), "at", "trigger", "n").Result()
	if err != nil {
		return PendingDigest{}, false, fmt.Errorf("read pending digest %s: %w", id, err)
	}
	at, _ := vals[0].(string)
	if at == "" {
		return PendingDigest{}, false, nil
	}
	trigger, _ := vals[1].(string)
	n, _ := vals[2].(string)
	ms, _ := strconv.ParseInt(at, 10, 64)
	count, _ := strconv.Atoi(n)
	return PendingDigest{ID: id, ReleaseAt: time.UnixMilli(ms), Trigger: trigger, Count: count}, true, nil
}

// ReleasedDigest is a digest moved out of pending by ReleaseDigest.
type ReleasedDigest struct {
	ID, Customer, Channel string
	Trigger               string
	ReleasedAt            time.Time
	// Intents are the folded intents, in the order they were folded.
	Intents []*hushv1.ContactIntent
	// Source is the message that released it ("<stream>/<sequence>").
	Source string
	// Replayed is true when it had been released before.
	Replayed bool
}

// ErrDigestGone is returned by ReleaseDigest when the digest is neither
// pending nor released within the decision retention.
var ErrDigestGone = errors.New("digest is not pending")

// ReleaseDigest moves a customer's pending digest to its released record,
// exactly once: a second release of the same id replays the first
// (Replayed, with the first's Source).
func (s *Store) ReleaseDigest(ctx context.Context, customer, channel, id string, now time.Time, retention time.Duration, source string) (ReleasedDigest, error) {
	pending := s.PendingDigestKey(customer, id)
	keys := []string{pending, pending + ":o", pending + ":i", s.ReleasedDigestKey(customer, id), s.OpenDigestKey(customer, channel)}
	res, err := digestReleaseScript.Run(ctx, s.rdb, keys, id, now.UnixMilli(), retention.Milliseconds(), source).Slice()
	if err != nil {
		return ReleasedDigest{}, fmt.Errorf("release digest %s: %w", id, err)
	}
	str := func(i int) string {
		if i < len(res) {
			v, _ := res[i].(string)
			return v
		}
		return ""
	}
	if str(0) == "gone" {
		return ReleasedDigest{}, ErrDigestGone
	}
	ms, _ := strconv.ParseInt(str(3), 10, 64)
	out := ReleasedDigest{ID: id, Customer: customer, Channel: channel, Source: str(1), Trigger: str(2),
		ReleasedAt: time.UnixMilli(ms), Replayed: str(0) == "replay"}
	for i := 5; i+1 < len(res); i += 2 {
		it := new(hushv1.ContactIntent)
		if err := proto.Unmarshal([]byte(str(i+1)), it); err != nil {
			return ReleasedDigest{}, fmt.Errorf("release digest %s: intent %s: %w", id, str(i), err)
		}
		out.Intents = append(out.Intents, it)
	}
	return out, nil
}

// DecideDigest records the decision of a released digest, decided as one
// contact (its Intent is policy.DigestIntent): decide.lua on the digest's
// own decision key, so its caps are checked and counted once, and a second
// decision replays the first.
func (s *Store) DecideDigest(ctx context.Context, r DecideRequest) (DecideResult, error) {
	args, err := decideArgs(r)
	if err != nil {
		return DecideResult{}, err
	}
	it := r.Intent
	customer := it.GetCustomerId()
	keys := []string{s.DigestDecisionsKey(customer), s.PrefsKey(customer), s.LedgerKey(customer), s.RepliesKey(customer), s.UncappedKey(customer),
		s.noLegacyDigestDecision(customer), s.EventsKey(customer)} // events last: KEYS[#KEYS]
	res, err := decideScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return DecideResult{}, fmt.Errorf("decide digest %s: %w", it.GetId(), err)
	}
	return decideReply(r, res)
}

// DigestDecision returns the recorded decision of a released digest, or nil.
func (s *Store) DigestDecision(ctx context.Context, customer, digestID string) (*hushv1.Decision, error) {
	stored, err := s.rdb.HGet(ctx, s.DigestDecisionsKey(customer), digestID).Result()
	rec := storedRecord(stored)
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read digest decision %s: %w", digestID, err)
	}
	return readRecord(rec, customer, digestID)
}

// DigestIntents returns the ids of the intents a released digest holds, in
// the order they were folded (nil when it is not, or no longer, recorded).
func (s *Store) DigestIntents(ctx context.Context, customer, digestID string) ([]string, error) {
	key := s.ReleasedDigestKey(customer, digestID)
	n, err := s.rdb.HGet(ctx, key, "n").Int()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read digest %s: %w", digestID, err)
	}
	fields := make([]string, n)
	for k := range n {
		fields[k] = "i" + strconv.Itoa(k+1)
	}
	if n == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, key, fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read digest %s: %w", digestID, err)
	}
	out := make([]string, 0, n)
	for _, v := range vals {
		if id, ok := v.(string); ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// DigestHolds reports whether a pending digest holds an intent.
func (s *Store) DigestHolds(ctx context.Context, customer, digestID, intentID string) (bool, error) {
	_, err := s.rdb.HGet(ctx, s.PendingDigestKey(customer, digestID)+":i", intentID).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read digest %s: %w", digestID, err)
	}
	return true, nil
}
