package store

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/attempt.lua
	attemptLua    string
	attemptScript = redis.NewScript(attemptLua)
)

// Attempts is what became of the attempts to process one message. A start
// that never finished is a gatekeeper that died while processing it: with
// others in flight beside it (Crashed), which blames no one in particular,
// or alone (SoloCrashed), which blames the message.
type Attempts struct {
	Started, SoloStarted, Finished, SoloFinished int64
	// Failed counts attempts that ended in a transient failure.
	Failed int64
}

// Crashed is how many shared attempts never finished.
func (a Attempts) Crashed() int64 { return a.Started - a.Finished }

// SoloCrashed is how many attempts made alone never finished.
func (a Attempts) SoloCrashed() int64 { return a.SoloStarted - a.SoloFinished }

// AttemptMark is what is recorded of an attempt.
type AttemptMark string

// Attempt marks.
const (
	// MarkBegin counts a start, solo when an earlier start never finished.
	MarkBegin AttemptMark = "begin"
	// MarkFinish and MarkSoloFinish count a start that finished, whatever
	// its result.
	MarkFinish     AttemptMark = "finish"
	MarkSoloFinish AttemptMark = "solo_finish"
	// MarkFail counts a transient failure.
	MarkFail AttemptMark = "fail"
)

// AttemptsKey is where the attempts to process message seq of stream are
// counted. It names the message, not the intent: a message that kills the
// process while it is decoded has no intent to name.
func (s *Store) AttemptsKey(stream string, seq uint64) string {
	return s.prefix + ":attempts:{" + stream + "}:" + strconv.FormatUint(seq, 10)
}

// MarkAttempt records mark for message seq of stream (kept for retention)
// and returns the counts as they were before it; solo reports whether a
// MarkBegin was counted as a solo start.
func (s *Store) MarkAttempt(ctx context.Context, stream string, seq uint64, mark AttemptMark, retention time.Duration) (a Attempts, solo bool, err error) {
	v, err := attemptScript.Run(ctx, s.rdb, []string{s.AttemptsKey(stream, seq)}, string(mark), retention.Milliseconds()).Int64Slice()
	if err != nil {
		return a, false, fmt.Errorf("attempts %s/%d: %w", stream, seq, err)
	}
	if len(v) != 6 {
		return a, false, fmt.Errorf("attempts %s/%d: %d values", stream, seq, len(v))
	}
	return Attempts{Started: v[0], SoloStarted: v[1], Finished: v[2], SoloFinished: v[3], Failed: v[4]}, v[5] == 1, nil
}
