package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// A customer's decision records live in one hash, a field per intent id
// (see lua/records.lua): one key per customer instead of one per decision,
// which is most of what a decision used to cost in Redis. A stored field is
// "<expires, unix s>\x1b<record>"; the record itself is as decide.lua
// describes it, its Decision protobuf without the intent and customer ids
// (the field and the key name them).
var (
	//go:embed lua/records.lua
	recordsLua string

	//go:embed lua/record_cas.lua
	recordCASLua    string
	recordCASScript = redis.NewScript(recordsLua + recordCASLua)
)

// DecisionsKey is where a customer's decisions are recorded, one hash field
// per intent id.
func (s *Store) DecisionsKey(customer string) string { return s.key(customer, "d") }

// legacyDecisionKey is where an intent's decision was recorded before a
// customer's records became one hash: the scripts move a record found there
// into the hash, and readers look there when the hash has none, so that no
// intent decided before an upgrade is decided again after it. It can go
// one decision retention after every replica runs this version.
func (s *Store) legacyDecisionKey(customer, intentID string) string {
	return s.key(customer, "d:"+intentID)
}

// encodeDecision is the protobuf of d as a record keeps it: without the
// intent and customer ids, which readRecord puts back.
func encodeDecision(d *hushv1.Decision) ([]byte, error) {
	id, customer := d.GetIntentId(), d.GetCustomerId()
	d.IntentId, d.CustomerId = "", ""
	blob, err := proto.Marshal(d)
	d.IntentId, d.CustomerId = id, customer
	if err != nil {
		return nil, fmt.Errorf("encode decision: %w", err)
	}
	return blob, nil
}

// readRecord decodes the record of an intent's decision.
func readRecord(rec, customer, intentID string) (*hushv1.Decision, error) {
	d, err := decodeRecord(rec)
	if d != nil {
		if d.IntentId == "" {
			d.IntentId = intentID
		}
		if d.CustomerId == "" {
			d.CustomerId = customer
		}
	}
	return d, err
}

// storedRecord returns the record in a stored field: what follows its
// expiry. Readers take a record that is kept as valid: it is kept for at
// least the retention (see lua/records.lua).
func storedRecord(stored string) string {
	_, rec, _ := strings.Cut(stored, "\x1b")
	return rec
}

// liveRecord reads an intent's record, "" when there is none.
func (s *Store) liveRecord(ctx context.Context, customer, intentID string) (string, error) {
	stored, err := s.rdb.HGet(ctx, s.DecisionsKey(customer), intentID).Result()
	if err == nil {
		return storedRecord(stored), nil
	}
	if errors.Is(err, redis.Nil) {
		stored, err = s.rdb.Get(ctx, s.legacyDecisionKey(customer, intentID)).Result()
		if err == nil || errors.Is(err, redis.Nil) {
			return stored, nil
		}
	}
	return "", fmt.Errorf("read decision %s: %w", intentID, err)
}

// record reads and decodes an intent's decision record; "" and nil when
// absent.
func (s *Store) record(ctx context.Context, customer, intentID string) (string, *hushv1.Decision, error) {
	rec, err := s.liveRecord(ctx, customer, intentID)
	if err != nil || rec == "" {
		return "", nil, err
	}
	d, err := readRecord(rec, customer, intentID)
	return rec, d, err
}

// swapRecord replaces an intent's record (rec "" deletes it) if it is still
// old as read ("" when there was none); now is the clock of the new
// record's retention. It reports whether it did.
func (s *Store) swapRecord(ctx context.Context, customer, intentID, old, rec string, now time.Time, retention time.Duration) (bool, error) {
	n, err := recordCASScript.Run(ctx, s.rdb, []string{s.DecisionsKey(customer), s.legacyDecisionKey(customer, intentID)},
		intentID, old, rec, now.UnixMilli(), retention.Milliseconds()).Int()
	return n == 1, err
}
