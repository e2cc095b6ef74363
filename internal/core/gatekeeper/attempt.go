package gatekeeper

import (
	"context"
	"fmt"
	"time"

	"github.com/hush-oss/hush/internal/core/store"
)

// attemptsRetention keeps an intent's attempts record far longer than any
// intent stays undecided.
const attemptsRetention = 24 * time.Hour

// process runs c's processing of d. A first delivery is processed beside
// the others at no extra cost; a redelivered intent is an attempt, counted.
func (g *Gatekeeper) process(ctx context.Context, c *consumer, d *delivery) result {
	if !c.claims || d.delivered <= 1 || d.stream == "" {
		g.solo.RLock()
		defer g.solo.RUnlock()
		return c.process(ctx, d)
	}
	return g.attempt(ctx, c, d)
}

// attempt processes a redelivered intent, counted in its attempts record
// (store.Attempts), to tell an intent whose gatekeepers were killed from one
// that kills them.
//
// JetStream's delivery count cannot: every gatekeeper that dies takes all
// the intents it held with it, most of them not yet started, and a valid
// intent must never be dead-lettered because replicas died. So a start is
// recorded before processing and its end after; a start that never ended
// is a gatekeeper that died while processing the intent. When that
// gatekeeper processed others beside it the crash blames no one, and the
// intent is processed next time alone (every other worker waits), so that
// a second crash does blame it. After MaxCrashes solo crashes it is
// claimed and dead-lettered at stage "crash", its recorded decision
// published instead if it has one. A gatekeeper killed from outside while
// it processes an intent alone (a few milliseconds, rarely) is a false
// blame, and MaxCrashes of those in a row would be needed.
//
// Only redeliveries pay the two extra script calls: a first delivery
// cannot have crashed anything yet (its crash leaves an uncounted start,
// which costs a poison intent one more delivery before it is blamed).
func (g *Gatekeeper) attempt(ctx context.Context, c *consumer, d *delivery) result {
	a, solo, err := g.store.MarkAttempt(ctx, d.stream, d.seq, store.MarkBegin, attemptsRetention)
	if err != nil {
		return result{err: err}
	}
	finish := store.MarkFinish
	if solo {
		finish = store.MarkSoloFinish
	}
	// Marked finished however processing ends, a panic included: it did
	// not take the process down.
	defer func() {
		if _, _, err := g.store.MarkAttempt(context.WithoutCancel(ctx), d.stream, d.seq, finish, attemptsRetention); err != nil {
			g.o.Logger.Warn("attempt not marked finished", "subject", d.subject, "stream_seq", d.seq, "err", err)
		}
	}()
	if n := a.SoloCrashed(); n >= int64(g.o.MaxCrashes) {
		g.o.Logger.Error("intent stopped the gatekeeper every time it was processed alone", "subject", d.subject,
			"stream_seq", d.seq, "crashes", n)
		return g.finishExhausted(ctx, d, "crash", fmt.Errorf("the gatekeeper stopped %d times while processing it alone", n))
	}
	if solo {
		g.o.Logger.Warn("intent processed alone: a gatekeeper stopped while processing it", "subject", d.subject,
			"stream_seq", d.seq, "crashes", a.Crashed(), "solo_crashes", a.SoloCrashed())
		g.solo.Lock()
		defer g.solo.Unlock()
	} else {
		g.solo.RLock()
		defer g.solo.RUnlock()
	}
	return c.process(ctx, d)
}
