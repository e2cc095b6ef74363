package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// fold folds intent id of customer c into its email digest, as Decide does
// for a folded verdict, and returns the recorded decision.
func fold(t *testing.T, st *store.Store, c, id string, releaseAt time.Time, max int) *hushv1.Decision {
	t.Helper()
	it := &hushv1.ContactIntent{Id: id, CustomerId: c, Channel: "email", Category: "marketing", Payload: []byte("body of " + id)}
	v := policy.Verdict{Outcome: hushv1.Outcome_OUTCOME_FOLDED, ReleaseAt: releaseAt,
		Digest: policy.DigestFold{Trigger: policy.TriggerSchedule, Max: max, WakeAt: time.Now()}}
	d := &hushv1.Decision{IntentId: id, CustomerId: c, Outcome: hushv1.Outcome_OUTCOME_FOLDED, DecidedAt: timestamppb.Now()}
	res, err := st.Decide(context.Background(), store.DecideRequest{Intent: it, Now: time.Now(), Verdict: &v, Decision: d,
		DecisionRetention: time.Hour, LedgerRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return res.Decision
}

func TestFoldIsIdempotentAndReleaseExactlyOnce(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)

	a := fold(t, st, "c", "a", at, 0)
	if a.GetDigestId() != store.DigestID("c", "email", 1) || a.GetOutcome() != hushv1.Outcome_OUTCOME_FOLDED {
		t.Fatalf("first fold: %v", a)
	}
	if again := fold(t, st, "c", "a", at, 0); again.GetDigestId() != a.GetDigestId() {
		t.Fatalf("a second fold of a: %v", again)
	}
	fold(t, st, "c", "b", at.Add(time.Hour), 0)
	p, ok, err := st.OpenDigest(ctx, "c", "email")
	if err != nil || !ok || p.Count != 2 || !p.ReleaseAt.Equal(at) || p.Trigger != policy.TriggerSchedule {
		t.Fatalf("pending: %+v %v %v; want 2 intents released at %v", p, ok, err, at)
	}

	rel, err := st.ReleaseDigest(ctx, "c", "email", p.ID, time.Now(), time.Hour, "S/1")
	if err != nil || rel.Replayed || len(rel.Intents) != 2 || rel.Intents[0].GetId() != "a" || string(rel.Intents[1].GetPayload()) != "body of b" {
		t.Fatalf("release: %+v %v", rel, err)
	}
	again, err := st.ReleaseDigest(ctx, "c", "email", p.ID, time.Now(), time.Hour, "S/2")
	if err != nil || !again.Replayed || again.Source != "S/1" || len(again.Intents) != 2 {
		t.Fatalf("second release: %+v %v; want a replay of the first", again, err)
	}
	if _, err := st.ReleaseDigest(ctx, "c", "email", store.DigestID("c", "email", 9), time.Now(), time.Hour, ""); !errors.Is(err, store.ErrDigestGone) {
		t.Fatalf("release of a digest never opened: %v", err)
	}
	if _, ok, _ := st.OpenDigest(ctx, "c", "email"); ok {
		t.Fatal("a released digest is still pending")
	}
	// a replayed intent stays in the digest it was folded into
	if d := fold(t, st, "c", "a", at, 0); d.GetDigestId() != a.GetDigestId() {
		t.Fatalf("a fold after the release: %v", d)
	}
	if c := fold(t, st, "c", "c", at, 0); c.GetDigestId() != store.DigestID("c", "email", 2) {
		t.Fatalf("the next digest: %v", c)
	}
}

func TestFullDigestIsDueAtOnce(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	at := time.Now().Add(time.Hour)
	fold(t, st, "c", "a", at, 2)
	fold(t, st, "c", "b", at, 2)
	p, _, err := st.PendingDigest(context.Background(), "c", store.DigestID("c", "email", 1))
	if err != nil || p.Trigger != policy.TriggerCount || !p.ReleaseAt.Before(at) {
		t.Fatalf("pending %+v %v; want a count release now", p, err)
	}
}

// TestEveryFoldedIntentInExactlyOneDigest races folds with releases: every
// intent must come out in exactly one released digest, the one its
// decision names.
func TestEveryFoldedIntentInExactlyOneDigest(t *testing.T) {
	r := testenv.StartRedis(t)
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	at := time.Now().Add(time.Hour)
	const n = 400
	named := make([]string, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				named[i] = fold(t, st, "c", fmt.Sprintf("i-%d", i), at, 0).GetDigestId()
			}
		}()
	}
	released := map[string][]string{}
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; ; k++ {
			stopped := false // read before the digest: a fold may precede it
			select {
			case <-stop:
				stopped = true
			default:
			}
			p, ok, err := st.OpenDigest(ctx, "c", "email")
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				rel, err := st.ReleaseDigest(ctx, "c", "email", p.ID, time.Now(), time.Hour, fmt.Sprint(k))
				if err == nil && !rel.Replayed {
					mu.Lock()
					for _, it := range rel.Intents {
						released[rel.ID] = append(released[rel.ID], it.GetId())
					}
					mu.Unlock()
				}
			}
			if stopped && !ok {
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	in := map[string]string{}
	for id, intents := range released {
		for _, i := range intents {
			if prev, dup := in[i]; dup {
				t.Errorf("%s in digests %s and %s", i, prev, id)
			}
			in[i] = id
		}
	}
	for i := range n {
		id := fmt.Sprintf("i-%d", i)
		if in[id] != named[i] {
			t.Errorf("%s: released in %q, its decision names %q", id, in[id], named[i])
		}
	}
	if len(released) < 2 {
		t.Logf("only %d digests released; the race was mild", len(released))
	}
}
