package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const correctnessPolicy = `
version: store-test-1
categories:
  critical:  { class: critical }
  marketing: { class: marketing }
caps:
  - { id: customer-hourly, scope: customer, window: 1h, max: 5, classes: [marketing] }
`

// TestCorrectness runs the store's correctness checks (replay, stale
// preferences, the cap race) on a single Redis and on a 3-master Redis
// Cluster, each with a plain client and with go-redis auto-pipelining (the
// gatekeeper's default): the store must work unchanged on all of them.
func TestCorrectness(t *testing.T) {
	t.Parallel()
	t.Run("single", func(t *testing.T) {
		t.Parallel()
		r := testenv.StartRedis(t)
		correctness(t, r.Client, r.Prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		c := testenv.StartRedisCluster(t)
		correctness(t, c.Client, c.Prefix)
	})
	t.Run("single auto-pipelined", func(t *testing.T) {
		t.Parallel()
		r := testenv.StartRedis(t)
		ap, err := r.Client.AutoPipeline()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ap.Close() })
		correctness(t, ap, r.Prefix)
	})
	t.Run("cluster auto-pipelined", func(t *testing.T) {
		t.Parallel()
		c := testenv.StartRedisCluster(t)
		ap, err := c.Client.(*redis.ClusterClient).AutoPipeline()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ap.Close() })
		correctness(t, ap, c.Prefix+"ap")
	})
}

func correctness(t *testing.T, rdb redis.UniversalClient, prefix string) {
	pol, err := policy.Parse("store-test.yaml", []byte(correctnessPolicy))
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(rdb, prefix)
	ctx := context.Background()
	now := time.Now()
	decide := func(id, customer, category string, version uint64) (store.DecideResult, error) {
		it := &hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: "email", Category: category,
			Topic: "t", Sender: &hushv1.Sender{Service: "svc"}, CreatedAt: timestamppb.New(now)}
		v := pol.Evaluate(policy.Input{Intent: it, Now: now})
		d := pol.Decision(it, &v, now, "")
		return st.Decide(ctx, store.DecideRequest{Intent: it, PrefsVersion: version, Now: now, Verdict: &v, Decision: d,
			DecisionRetention: time.Hour, LedgerRetention: pol.LedgerRetention})
	}

	t.Run("replay", func(t *testing.T) {
		first, err := decide("replay-1", "c-replay", "marketing", 0)
		if err != nil || first.Replayed || first.Decision.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
			t.Fatalf("first decision = %+v, %v; want approved, not replayed", first, err)
		}
		again, err := decide("replay-1", "c-replay", "marketing", 0)
		if err != nil || !again.Replayed || !proto.Equal(again.Decision, first.Decision) {
			t.Fatalf("second decision = %+v, %v; want the first one replayed", again, err)
		}
		ledger, err := st.Ledger(ctx, "c-replay", now.Add(-time.Hour))
		if err != nil || len(ledger) != 1 {
			t.Fatalf("ledger = %v, %v; want the contact counted once", ledger, err)
		}
	})

	t.Run("stale preferences", func(t *testing.T) {
		p := &hushv1.Preferences{CustomerId: "c-stale", OptedOutChannels: []string{"email"}}
		version, _, err := st.SetPreferences(ctx, "c-stale", p, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := decide("stale-1", "c-stale", "marketing", 0)
		if err != nil || !res.Stale || res.PrefsVersion != version || !proto.Equal(res.Prefs, p) {
			t.Fatalf("decision with no preferences = %+v, %v; want stale with version %d", res, err, version)
		}
		if d, err := st.Decision(ctx, "c-stale", "stale-1"); err != nil || d != nil {
			t.Fatalf("recorded after a stale decision: %v, %v", d, err)
		}
		if res, err = decide("stale-1", "c-stale", "marketing", version); err != nil || res.Stale {
			t.Fatalf("decision with current preferences = %+v, %v", res, err)
		}
	})

	t.Run("cap race", func(t *testing.T) {
		// Many callers race on a few customers spread over the cluster's
		// slots; each customer gets exactly the cap's 5 approvals.
		const customers, perCustomer = 4, 40
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			approved = map[string]int{}
		)
		for c := range customers {
			for i := range perCustomer {
				wg.Add(1)
				go func() {
					defer wg.Done()
					customer := fmt.Sprintf("c-race-%d", c)
					res, err := decide(fmt.Sprintf("race-%d-%d", c, i), customer, "marketing", 0)
					if err != nil {
						t.Error(err)
						return
					}
					if res.Decision.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED {
						mu.Lock()
						approved[customer]++
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		for c := range customers {
			customer := fmt.Sprintf("c-race-%d", c)
			if approved[customer] != 5 {
				t.Errorf("%s: %d approved, want exactly 5", customer, approved[customer])
			}
			ledger, err := st.Ledger(ctx, customer, now.Add(-time.Hour))
			if err != nil || len(ledger) != 5 {
				t.Errorf("%s: ledger holds %d contacts (%v), want 5", customer, len(ledger), err)
			}
		}
		res, err := decide("race-0-late", "c-race-0", "marketing", 0)
		if err != nil {
			t.Fatal(err)
		}
		// The ledger keeps milliseconds; explanations round up to the second.
		next := policy.Stamp(time.UnixMilli(now.UnixMilli()).Add(time.Hour))
		if r := res.Decision.GetReasons(); len(r) != 1 || r[0].GetRule() != "cap.customer-hourly" || !strings.Contains(r[0].GetMessage(), "5 of 5") || !strings.Contains(r[0].GetMessage(), next) {
			t.Errorf("over the cap: reasons %v, want cap.customer-hourly, 5 of 5, next allowed %s", r, next)
		}
	})
}
