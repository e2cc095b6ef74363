// Package consent changes customers' preferences and keeps their durable
// consent history: every change is written to Redis and appended to
// hush.prefs.changed (who, when, via what, old and new), and preferences can
// be rebuilt from that history.
//
// Order and failure: a change is written to Redis first, together with its
// history entry (one Lua script: the entry waits in the customer's
// preferences hash, a transactional outbox), so the change is in force the
// moment the caller is answered (read-your-writes for opt-outs). The entry
// is then published with Nats-Msg-Id "<customer>:<version>" and retried; once
// JetStream acknowledges it, it is removed from the outbox. When NATS is down
// the entry stays in Redis and is published by the next change of the same
// customer or by the outbox sweeper (RunOutbox), oldest version first. A
// duplicate published after the JetStream duplicate window is harmless:
// readers key the history by customer and version.
package consent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ErrConflict is returned when a change names a version (If-Match) that is
// no longer current.
var ErrConflict = store.ErrConflict

// Ways a change is made, recorded as PreferenceChange.via.
const (
	ViaAPI      = "api"
	ViaPage     = "preference_page"
	ViaOneClick = "one_click_unsubscribe"
	ViaHushctl  = "hushctl"
)

// maxConflictTry bounds the re-reads of an unconditional change racing
// other writers of the same customer.
const maxConflictTry = 16

// Options tune a Service. Zero values take the defaults shown.
type Options struct {
	Subjects bus.Subjects
	// Now is the clock (time.Now); tests fix it.
	Now func() time.Time
	// PublishAttempts is how often a history entry is published before it
	// is left to the outbox (3).
	PublishAttempts int
	// RetryDelay is the pause between publish attempts, growing linearly
	// (100ms).
	RetryDelay time.Duration
	Logger     *slog.Logger
}

// Service applies preference changes and reads the consent history.
type Service struct {
	store *store.Store
	js    jetstream.JetStream
	o     Options
}

// New returns a service writing to st and publishing with js.
func New(st *store.Store, js jetstream.JetStream, o Options) *Service {
	if o.Subjects.Prefix == "" {
		o.Subjects = bus.NewSubjects("")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PublishAttempts <= 0 {
		o.PublishAttempts = 3
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, js: js, o: o}
}

// Get returns a customer's preferences (never nil: empty when none are
// recorded) and their version (0 when none).
func (s *Service) Get(ctx context.Context, customer string) (*hushv1.Preferences, uint64, error) {
	p, v, err := s.store.Preferences(ctx, customer)
	if err != nil {
		return nil, 0, err
	}
	if p == nil {
		p = &hushv1.Preferences{CustomerId: customer}
	}
	return p, v, nil
}

// Change is one change to one customer's preferences.
type Change struct {
	Customer string
	// Actor is who makes the change (a token's subject, "customer", a
	// staff id); Via is through what (ViaAPI, ViaPage, ...).
	Actor, Via string
	// IfVersion, when set, makes the change conditional on the current
	// version (ErrConflict otherwise). When nil, a concurrent change makes
	// Apply read again and apply Mutate to the newer preferences: an atomic
	// patch, no update is lost.
	IfVersion *uint64
	// Mutate changes p in place (p is a copy of the current preferences,
	// never nil). Its error is returned as it is.
	Mutate func(p *hushv1.Preferences) error
}

// Result is what a change did.
type Result struct {
	Prefs   *hushv1.Preferences
	Version uint64
	Old     *hushv1.Preferences
	// Unchanged is true when Mutate changed nothing: nothing was written
	// and no history entry was made.
	Unchanged bool
	// HistoryPending is true when the history entry could not be published
	// yet; it is kept in Redis and published later.
	HistoryPending bool
}

// Apply makes a change: Redis first, with its history entry in the same
// atomic step, then the history publish (see the package doc).
func (s *Service) Apply(ctx context.Context, c Change) (Result, error) {
	for try := 0; ; try++ {
		cur, v, err := s.Get(ctx, c.Customer)
		if err != nil {
			return Result{}, err
		}
		if c.IfVersion != nil && *c.IfVersion != v {
			return Result{}, fmt.Errorf("%w: %s is at version %d", ErrConflict, c.Customer, v)
		}
		next := proto.Clone(cur).(*hushv1.Preferences)
		if err := c.Mutate(next); err != nil {
			return Result{}, err
		}
		next.CustomerId = c.Customer
		next.UpdatedAt = cur.GetUpdatedAt()
		if proto.Equal(cur, next) {
			return Result{Prefs: cur, Version: v, Old: cur, Unchanged: true}, nil
		}
		now := s.o.Now()
		next.UpdatedAt = timestamppb.New(now)
		var old *hushv1.Preferences
		nextVersion := v + 1
		if v > 0 {
			old = cur
		} else if nextVersion, err = s.firstVersion(ctx); err != nil {
			return Result{}, err
		}
		change := &hushv1.PreferenceChange{CustomerId: c.Customer, Actor: c.Actor, Via: c.Via,
			ChangedAt: timestamppb.New(now), Old: old, New: next, Version: nextVersion}
		blob, err := proto.Marshal(change)
		if err != nil {
			return Result{}, fmt.Errorf("encode change: %w", err)
		}
		nv, _, err := s.store.ChangePreferences(ctx, c.Customer, next, v, nextVersion, blob)
		if errors.Is(err, store.ErrConflict) {
			if c.IfVersion != nil || try >= maxConflictTry {
				return Result{}, err
			}
			continue
		}
		if err != nil && nv == 0 {
			return Result{}, err
		}
		res := Result{Prefs: next, Version: nv, Old: cur}
		if err := s.flush(ctx, c.Customer); err != nil {
			res.HistoryPending = true
			s.o.Logger.Warn("consent history not yet published; kept in the outbox",
				"customer_id", c.Customer, "version", nv, "err", err)
		}
		return res, nil
	}
}

// firstVersion numbers the change of a customer Redis holds no preferences
// for: a customer never seen, or one whose record Redis lost. In the second
// case gatekeeper replicas may still cache the lost version with the lost
// preferences, and decide.lua accepts a cached version equal to the current
// one; so the new version must differ from every version the customer ever
// had. The consent history provides that bound, and survives Redis: a
// customer's versions count up by one from a first version that is at most
// the history stream's last sequence plus one, and each version's entry is
// published in version order, so every version already published is at most
// the stream's last sequence (an induction on the entries). The first
// version is therefore that sequence plus one: 1 for the first customer on
// an empty history, a larger number later, and one stream-info request per
// customer's first change, not per change.
//
// What this cannot see is a change Redis lost before its history entry left
// the outbox: that change is lost from every durable record, and so is the
// version. When the history cannot be read (NATS down), the first version is
// the time in milliseconds instead, far above any count of changes; a
// missing stream (deleted by an operator) means there is no history to
// exceed.
func (s *Service) firstVersion(ctx context.Context) (uint64, error) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ictx, s.o.Subjects.Stream(bus.StreamPrefs))
	var info *jetstream.StreamInfo
	if err == nil {
		info, err = st.Info(ictx)
	}
	switch {
	case err == nil:
		return info.State.LastSeq + 1, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return 1, nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	}
	s.o.Logger.Warn("consent history not readable; first version taken from the clock", "err", err)
	return uint64(max(s.o.Now().UnixMilli(), 1)), nil
}

// flush publishes a customer's pending history entries, oldest first, and
// removes each from the outbox once JetStream has it.
func (s *Service) flush(ctx context.Context, customer string) error {
	pending, err := s.store.PendingChanges(ctx, customer)
	if err != nil {
		return err
	}
	for _, pc := range pending {
		if err := s.publish(ctx, customer, pc.Version, pc.Change); err != nil {
			return err
		}
		if err := s.store.ChangePublished(ctx, customer, pc.Version); err != nil {
			return err
		}
	}
	if len(pending) == 0 {
		return s.store.ChangePublished(ctx, customer)
	}
	return nil
}

func (s *Service) publish(ctx context.Context, customer string, version uint64, blob []byte) error {
	msg := nats.NewMsg(s.o.Subjects.PrefsChanged())
	msg.Data = blob
	msg.Header.Set(bus.HeaderContentType, bus.ContentTypeProtobuf)
	msg.Header.Set(bus.HeaderMsgID, customer+":"+strconv.FormatUint(version, 10))
	var err error
	for attempt := 1; attempt <= s.o.PublishAttempts; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = s.js.PublishMsg(pctx, msg)
		cancel()
		if err == nil {
			return nil
		}
		if attempt < s.o.PublishAttempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * s.o.RetryDelay):
			}
		}
	}
	return fmt.Errorf("publish history of %s version %d: %w", customer, version, err)
}

// FlushOutbox publishes every pending history entry of every customer and
// returns how many customers it flushed.
func (s *Service) FlushOutbox(ctx context.Context) (int, error) {
	customers, err := s.store.OutboxCustomers(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, c := range customers {
		if err := s.flush(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return len(customers), errors.Join(errs...)
}

// RunOutbox flushes the outbox every interval until ctx ends.
func (s *Service) RunOutbox(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.FlushOutbox(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("consent history outbox not flushed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
