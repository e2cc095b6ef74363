package prefsapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// seen is an Observer that remembers the decisions one replica published.
type seen struct {
	mu sync.Mutex
	d  []*hushv1.Decision
}

func (s *seen) Decided(d *hushv1.Decision, _ bool, _, _ time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}
func (s *seen) DeadLettered(string) {}
func (s *seen) Retried(error)       {}
func (s *seen) InFlight(int)        {}

// since returns the decisions published from index i on.
func (s *seen) since(i int) []*hushv1.Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*hushv1.Decision(nil), s.d[min(i, len(s.d)):]...)
}

// startReplica runs a gatekeeper replica on the shared durable, telling obs
// about its decisions.
func (e *env) startReplica(obs gatekeeper.Observer) {
	e.t.Helper()
	_, js, err := connect.NATS(e.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Client.Options().Addr, PoolSize: 8})
	gk := gatekeeper.New(js, store.New(rdb, e.redis.Prefix), e.pol, gatekeeper.Options{Subjects: e.subjects,
		Workers: 2, RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, Observer: obs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			e.t.Error("gatekeeper did not drain within 30s")
		}
		rdb.Close()
	})
}

// TestOptOutAfterRedisLostTheCustomerIsHonouredByEveryReplica: two warm
// replicas cached a customer's preferences at some version; Redis loses the
// customer; the customer opts out again through the API. The new version
// must differ from every version the replicas may hold, so that each
// replica's next decision sees the opt-out.
func TestOptOutAfterRedisLostTheCustomerIsHonouredByEveryReplica(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.must(200, "PUT", alice+"/preferences", aliceToken, `{"optedOutChannels":["sms"]}`)
	replicas := []*seen{{}, {}}
	for _, r := range replicas {
		e.startReplica(r)
	}

	n := 0
	publish := func() {
		t.Helper()
		n++
		id := "i-" + time.Now().Format("150405.000000") + "-" + string(rune('a'+n%26))
		// demo: a producer the default policy lets send transactional contacts
		it := &hushv1.ContactIntent{Id: id, CustomerId: "alice", Channel: "email", Category: "transactional", Topic: "receipts",
			Sender: &hushv1.Sender{Service: "demo"}, CreatedAt: timestamppb.Now()}
		msg, err := bus.NewMsg(e.subjects.Intent("demo", "email"), id, it)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// untilEach publishes intents until every replica has published a
	// decision since marks, and returns those decisions.
	untilEach := func(marks []int) [][]*hushv1.Decision {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			out := make([][]*hushv1.Decision, len(replicas))
			all := true
			for i, r := range replicas {
				out[i] = r.since(marks[i])
				all = all && len(out[i]) > 0
			}
			if all {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("not every replica decided an intent within 60s: %d, %d", len(out[0]), len(out[1]))
			}
			publish()
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Warm: each replica has decided with the customer's preferences.
	for i, ds := range untilEach([]int{0, 0}) {
		for _, d := range ds {
			if d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
				t.Fatalf("replica %d: warm-up intent %s %v; want approved", i, d.GetIntentId(), d.GetOutcome())
			}
		}
	}
	// Both replicas settle what they have in hand before Redis loses the
	// customer.
	waitIdle(t, e)
	_, before := e.prefsInRedis("alice")

	keys, err := e.redis.Client.Keys(ctx, e.redis.Prefix+":{c:alice}:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys of alice: %v, %v", keys, err)
	}
	if err := e.redis.Client.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	r := e.must(200, "PUT", alice+"/preferences", aliceToken, `{"optedOutChannels":["email"]}`)
	if r.prefs(t).GetOptedOutChannels()[0] != "email" {
		t.Fatalf("opt-out not applied: %s", r.body)
	}
	_, after := e.prefsInRedis("alice")
	if after <= before {
		t.Errorf("version %d after the loss, %d before: versions must never repeat", after, before)
	}

	marks := []int{len(replicas[0].since(0)), len(replicas[1].since(0))}
	for i, ds := range untilEach(marks) {
		for _, d := range ds {
			if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_OPTED_OUT {
				t.Errorf("replica %d decided %s %v after the acknowledged opt-out; want suppressed, opted_out", i, d.GetIntentId(), d.GetOutcome())
			}
		}
	}
}

// waitIdle waits until the gatekeepers' consumer has nothing pending.
func waitIdle(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := e.js.Consumer(context.Background(), e.subjects.Stream(bus.StreamIntents), "gatekeeper")
		if err == nil {
			info, err := c.Info(context.Background())
			if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("gatekeepers not idle within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
