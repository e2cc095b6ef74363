package consent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func newService(t *testing.T) (*consent.Service, *testenv.Redis) {
	t.Helper()
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	testenv.EnsureStreams(t, js, bus.NewSubjects(""))
	r := testenv.StartRedis(t)
	return consent.New(store.New(r.Client, r.Prefix), js, consent.Options{}), r
}

func wipe(t *testing.T, r *testenv.Redis) {
	t.Helper()
	ctx := context.Background()
	keys, err := r.Client.Keys(ctx, r.Prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("nothing to wipe")
	}
	if err := r.Client.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildRestoresAWipedRedis(t *testing.T) {
	svc, r := newService(t)
	ctx := context.Background()
	changes := []func(*hushv1.Preferences) error{
		func(p *hushv1.Preferences) error { p.OptedOutChannels = []string{"sms"}; return nil },
		func(p *hushv1.Preferences) error { p.Mode = hushv1.Mode_MODE_DO_NOTHING; return nil },
		func(p *hushv1.Preferences) error {
			p.QuietHours = &hushv1.QuietHours{Start: "20:00", End: "09:00"}
			return nil
		},
	}
	customers := []string{"c-1", "c-2", "c-3"}
	for i, c := range customers {
		for _, m := range changes[:i+1] {
			if _, err := svc.Apply(ctx, consent.Change{Customer: c, Actor: "test", Via: consent.ViaHushctl, Mutate: m}); err != nil {
				t.Fatal(err)
			}
		}
	}
	type snap struct {
		p *hushv1.Preferences
		v uint64
	}
	before := map[string]snap{}
	for _, c := range customers {
		p, v, err := svc.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		before[c] = snap{p, v}
	}

	wipe(t, r)
	if _, v, _ := svc.Get(ctx, "c-3"); v != 0 {
		t.Fatal("wipe left preferences behind")
	}
	var progressed bool
	st, err := svc.Rebuild(ctx, func(read, total uint64) { progressed = read == total && total == 6 })
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes != 6 || st.Customers != 3 || st.Restored != 3 || !progressed {
		t.Fatalf("rebuild %+v (progress reported: %v); want 6 changes, 3 customers restored", st, progressed)
	}
	for _, c := range customers {
		p, v, err := svc.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if v != before[c].v || !proto.Equal(p, before[c].p) {
			t.Errorf("%s: rebuilt %v at version %d; want %v at %d", c, p, v, before[c].p, before[c].v)
		}
	}

	// Rebuilding again changes nothing; the next change continues the
	// version sequence.
	if st, err := svc.Rebuild(ctx, nil); err != nil || st.Restored != 0 {
		t.Fatalf("second rebuild: %+v, %v", st, err)
	}
	res, err := svc.Apply(ctx, consent.Change{Customer: "c-1", Actor: "test", Via: consent.ViaAPI,
		Mutate: func(p *hushv1.Preferences) error { p.ConsentRevoked = true; return nil }})
	if err != nil || res.Version != 2 {
		t.Fatalf("change after rebuild: version %d, %v; want 2", res.Version, err)
	}
}

func TestIfVersionConflicts(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	zero := uint64(0)
	set := func(p *hushv1.Preferences) error { p.Region = "FR"; return nil }
	if _, err := svc.Apply(ctx, consent.Change{Customer: "c", IfVersion: &zero, Mutate: set}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Apply(ctx, consent.Change{Customer: "c", IfVersion: &zero, Mutate: func(p *hushv1.Preferences) error { p.Region = "DE"; return nil }})
	if err == nil || !errors.Is(err, consent.ErrConflict) {
		t.Fatalf("stale IfVersion: %v, want ErrConflict", err)
	}
}

func TestHistorySinceSkipsOlderChanges(t *testing.T) {
	svc, _ := newService(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := svc.Apply(ctx, consent.Change{Customer: "c", Mutate: func(p *hushv1.Preferences) error {
			p.OptedOutTopics = append(p.OptedOutTopics, fmt.Sprint("t", i))
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	err := svc.History(ctx, consent.HistoryFilter{Since: time.Now().Add(time.Hour)}, func(*hushv1.PreferenceChange) error { n++; return nil })
	if err != nil || n != 0 {
		t.Fatalf("history since the future: %d, %v", n, err)
	}
	err = svc.History(ctx, consent.HistoryFilter{Since: time.Now().Add(-time.Hour)}, func(*hushv1.PreferenceChange) error { n++; return nil })
	if err != nil || n != 3 {
		t.Fatalf("history since an hour ago: %d, %v", n, err)
	}
}
