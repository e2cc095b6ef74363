package consent

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// HistoryFilter selects consent-history entries. Zero fields select all.
type HistoryFilter struct {
	Customer string
	Since    time.Time
	// Progress, when set, is called now and then with the number of
	// entries read and the number in the stream.
	Progress func(read, total uint64)
}

// History calls fn for every entry of the consent history that matches f,
// in the order they were appended, and stops at the end of the stream.
func (s *Service) History(ctx context.Context, f HistoryFilter, fn func(*hushv1.PreferenceChange) error) error {
	return ReadStream(ctx, s.js, s.o.Subjects.Stream(bus.StreamPrefs), f.Since, f.Progress, func(m jetstream.Msg) error {
		ch := new(hushv1.PreferenceChange)
		if err := bus.Decode(m.Data(), m.Headers(), ch); err != nil {
			return fmt.Errorf("consent history: %w", err)
		}
		if f.Customer != "" && ch.GetCustomerId() != f.Customer {
			return nil
		}
		// The stream's time is when the entry was stored, which can be
		// later than the change (an entry that waited in the outbox).
		if !f.Since.IsZero() && ch.GetChangedAt().AsTime().Before(f.Since) {
			return nil
		}
		return fn(ch)
	})
}

// ReadStream calls fn for every message of a stream stored since a time
// (all when zero), in order, and returns at the stream's end as it was when
// the read began. progress, when set, is called every 1000 messages and at
// the end.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, since time.Time, progress func(read, total uint64), fn func(jetstream.Msg) error) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	last := info.State.LastSeq
	total := info.State.Msgs
	if total == 0 || last == 0 {
		if progress != nil {
			progress(0, 0)
		}
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	var read uint64
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			read++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read %s: %w", stream, err)
			}
			if err := fn(m); err != nil {
				return err
			}
			if progress != nil && read%1000 == 0 {
				progress(read, total)
			}
			if meta.Sequence.Stream >= last {
				if progress != nil {
					progress(read, total)
				}
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if got == 0 { // nothing newer than since
			if progress != nil {
				progress(read, total)
			}
			return nil
		}
	}
}

// RebuildStats says what Rebuild did.
type RebuildStats struct {
	// Changes read from the history, customers found in it, and customers
	// whose preferences were written back (the others were already at or
	// past the history's latest version).
	Changes, Customers, Restored int
}

// Rebuild restores every customer's preferences in Redis from the consent
// history: the newest entry (highest version) of each customer wins. It
// never moves a customer backwards, so it is safe on a live system.
func (s *Service) Rebuild(ctx context.Context, progress func(read, total uint64)) (RebuildStats, error) {
	latest := map[string]*hushv1.PreferenceChange{}
	var st RebuildStats
	err := s.History(ctx, HistoryFilter{Progress: progress}, func(ch *hushv1.PreferenceChange) error {
		st.Changes++
		if cur, ok := latest[ch.GetCustomerId()]; !ok || ch.GetVersion() > cur.GetVersion() {
			latest[ch.GetCustomerId()] = ch
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Customers = len(latest)
	for customer, ch := range latest {
		p := proto.Clone(ch.GetNew()).(*hushv1.Preferences)
		ok, err := s.store.RestorePreferences(ctx, customer, p, ch.GetVersion())
		if err != nil {
			return st, err
		}
		if ok {
			st.Restored++
		}
	}
	return st, nil
}
