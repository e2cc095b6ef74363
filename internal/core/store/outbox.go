package store

import (
	"context"
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var (
	//go:embed lua/change_prefs.lua
	changePrefsLua    string
	changePrefsScript = redis.NewScript(changePrefsLua)

	//go:embed lua/outbox.lua
	outboxLua    string
	outboxScript = redis.NewScript(outboxLua)

	//go:embed lua/outbox_index.lua
	outboxIndexLua    string
	outboxIndexScript = redis.NewScript(outboxIndexLua)

	//go:embed lua/restore_prefs.lua
	restorePrefsLua    string
	restorePrefsScript = redis.NewScript(restorePrefsLua)
)

// OutboxKey is the set of customers that may have consent-history entries
// not yet published.
func (s *Store) OutboxKey() string { return s.prefix + ":prefs:outbox" }

// ChangePreferences replaces a customer's preferences if they are still at
// version ifVersion (else ErrConflict), sets them at version next (above
// ifVersion), and keeps change, the encoded consent-history entry of version
// next, beside them until ChangePublished is called. All is written in one
// atomic step. It returns the new version and the previous preferences (nil
// when there were none).
func (s *Store) ChangePreferences(ctx context.Context, customer string, p *hushv1.Preferences, ifVersion, next uint64, change []byte) (uint64, *hushv1.Preferences, error) {
	blob, err := proto.Marshal(p)
	if err != nil {
		return 0, nil, fmt.Errorf("encode preferences: %w", err)
	}
	res, err := changePrefsScript.Run(ctx, s.rdb, []string{s.PrefsKey(customer)},
		strconv.FormatUint(ifVersion, 10), blob, change, strconv.FormatUint(next, 10)).Slice()
	if err != nil {
		if strings.HasPrefix(err.Error(), "CONFLICT") {
			return 0, nil, fmt.Errorf("%w: %s is at version %s", ErrConflict, customer, strings.TrimPrefix(err.Error(), "CONFLICT "))
		}
		return 0, nil, fmt.Errorf("write preferences of %s: %w", customer, err)
	}
	v, _ := res[0].(int64)
	oldBlob, _ := res[1].(string)
	var old *hushv1.Preferences
	if oldBlob != "" {
		old = new(hushv1.Preferences)
		if err := proto.Unmarshal([]byte(oldBlob), old); err != nil {
			return 0, nil, fmt.Errorf("decode previous preferences of %s: %w", customer, err)
		}
	}
	if err := outboxIndexScript.Run(ctx, s.rdb, []string{s.OutboxKey()}, "add", customer).Err(); err != nil {
		// The entry is safe in the customer's hash; the next change of this
		// customer publishes it.
		return uint64(v), old, fmt.Errorf("index outbox of %s: %w", customer, err)
	}
	return uint64(v), old, nil
}

// PendingChange is a consent-history entry written to Redis and not yet
// confirmed as published.
type PendingChange struct {
	Version uint64
	Change  []byte
}

// PendingChanges returns a customer's unpublished history entries, oldest
// first.
func (s *Store) PendingChanges(ctx context.Context, customer string) ([]PendingChange, error) {
	res, err := outboxScript.Run(ctx, s.rdb, []string{s.PrefsKey(customer)}, "list").StringSlice()
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s: %w", customer, err)
	}
	out := make([]PendingChange, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		v, err := strconv.ParseUint(res[i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("outbox of %s: version %q: %w", customer, res[i], err)
		}
		out = append(out, PendingChange{Version: v, Change: []byte(res[i+1])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// ChangePublished forgets the history entries of the given versions once
// they are durably published; the customer leaves the outbox index when
// nothing remains.
func (s *Store) ChangePublished(ctx context.Context, customer string, versions ...uint64) error {
	args := []any{"done"}
	for _, v := range versions {
		args = append(args, strconv.FormatUint(v, 10))
	}
	left, err := outboxScript.Run(ctx, s.rdb, []string{s.PrefsKey(customer)}, args...).Int()
	if err != nil {
		return fmt.Errorf("clear outbox of %s: %w", customer, err)
	}
	if left == 0 {
		if err := outboxIndexScript.Run(ctx, s.rdb, []string{s.OutboxKey()}, "rem", customer).Err(); err != nil {
			return fmt.Errorf("unindex outbox of %s: %w", customer, err)
		}
	}
	return nil
}

// OutboxCustomers lists the customers that may have unpublished history
// entries.
func (s *Store) OutboxCustomers(ctx context.Context) ([]string, error) {
	res, err := outboxIndexScript.Run(ctx, s.rdb, []string{s.OutboxKey()}, "list").StringSlice()
	if err != nil {
		return nil, fmt.Errorf("read outbox index: %w", err)
	}
	sort.Strings(res)
	return res, nil
}

// RestorePreferences puts back a customer's preferences at a version taken
// from the consent history, unless the current version is already at or past
// it. It reports whether it wrote. p may be nil ("no preferences").
func (s *Store) RestorePreferences(ctx context.Context, customer string, p *hushv1.Preferences, version uint64) (bool, error) {
	var blob []byte
	if p != nil {
		var err error
		if blob, err = proto.Marshal(p); err != nil {
			return false, fmt.Errorf("encode preferences: %w", err)
		}
	}
	n, err := restorePrefsScript.Run(ctx, s.rdb, []string{s.PrefsKey(customer)}, strconv.FormatUint(version, 10), blob).Int()
	if err != nil {
		return false, fmt.Errorf("restore preferences of %s: %w", customer, err)
	}
	return n == 1, nil
}
