package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// HistoryRetention is how long the contact history (the outcome stream,
// StreamOutcomes) is kept: the page's 30 days and a little more, so that a
// report over the last 30 days can compare them with the days before. It
// is kept as long as a cap window can look back, not for ever: the consent
// history (StreamPrefs) is what must last.
const HistoryRetention = 35 * 24 * time.Hour

// HeaderUnsolicited is "true" on the outcome and the history record of
// an agent's contact to a customer who had not reached out (no open
// reply window): the over-servicing guard's subject.
const HeaderUnsolicited = "Hush-Unsolicited"

// outcomeDeferred is the HeaderOutcome of a deferral (policy.ShortOutcome).
const outcomeDeferred = "deferred"

// ReadHistory calls fn for every contact-history record decided since a
// time, oldest first, with whether it was unsolicited: the terminal
// outcomes on the outcome stream (deferrals are not terminal, and records
// stored in the older bare Decision form carry no intent, so both are
// passed over). It reads one customer's when customer is set (a consumer
// filtered on the customer's token reads only theirs), everyone's
// otherwise. It returns once it has read what the
// stream held when the read began. first is when the stream's oldest
// record was stored (zero when it is empty): a caller can tell whether the
// history reaches back to since.
func (s Subjects) ReadHistory(ctx context.Context, js jetstream.JetStream, customer string, since time.Time, fn func(rec *hushv1.SuppressionRecord, unsolicited bool) error) (first time.Time, err error) {
	st, err := js.Stream(ctx, s.Stream(StreamOutcomes))
	if err != nil {
		return time.Time{}, fmt.Errorf("history: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("history: %w", err)
	}
	if info.State.Msgs == 0 {
		return time.Time{}, nil
	}
	first = info.State.FirstTime
	cfg := jetstream.OrderedConsumerConfig{}
	switch {
	case customer != "":
		// Everything on the customer's subject, the days before since
		// dropped here: a customer has a few records a day at most, and
		// a seek by time costs the server more than reading them (on
		// 100,000 records, 26 ms against 5).
		cfg.FilterSubjects = []string{s.OutcomesFor(customer)}
	case since.After(first):
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return first, fmt.Errorf("history: %w", err)
	}
	for {
		// No wait: what matches is stored already; an empty answer is the end.
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			return first, fmt.Errorf("history: %w", err)
		}
		got, done := 0, false
		for m := range batch.Messages() {
			got++
			rec := new(hushv1.SuppressionRecord)
			terminal := m.Headers().Get(HeaderMessageType) == MessageTypeRecord && m.Headers().Get(HeaderOutcome) != outcomeDeferred
			if terminal {
				if err := Decode(m.Data(), m.Headers(), rec); err != nil {
					return first, fmt.Errorf("history: %w", err)
				}
			}
			// A customer's read starts at their first record: the days
			// before since are skipped here.
			if terminal && !rec.GetDecision().GetDecidedAt().AsTime().Before(since) {
				if err := fn(rec, m.Headers().Get(HeaderUnsolicited) == "true"); err != nil {
					return first, err
				}
			}
			if meta, err := m.Metadata(); err == nil && (meta.NumPending == 0 || meta.Sequence.Stream >= info.State.LastSeq) {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return first, fmt.Errorf("history: %w", err)
		}
		if got == 0 || done {
			return first, nil
		}
	}
}
