package pressure

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Read builds the report over [since, until) from the contact history, with
// one ordered consumer from the start of the previous period (for the
// change). The history is one compact record per decided intent (no
// payload), so a month of it reads in one pass; the dispatch stream,
// which keeps days and carries payloads, could not answer for a month.
func Read(ctx context.Context, js jetstream.JetStream, s bus.Subjects, since, until time.Time) (*Report, error) {
	if !since.Before(until) {
		return nil, fmt.Errorf("period %s to %s is empty", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	b := NewBuilder(since, until)
	first, err := s.ReadHistory(ctx, js, "", b.PreviousSince(), func(rec *hushv1.SuppressionRecord, unsolicited bool) error {
		b.Add(AttemptOf(rec, unsolicited))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Report(!first.IsZero() && !first.After(b.PreviousSince())), nil
}
