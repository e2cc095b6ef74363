package gatekeeper_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestNATSClusterServerLoss runs two gatekeeper replicas on a 3-server NATS
// cluster with R3 streams and shuts down the server the first replica is
// connected to while intents flow: every intent still ends with exactly
// one outcome, on dispatch or in the suppression log.
func TestNATSClusterServerLoss(t *testing.T) {
	cluster := testenv.StartNATSCluster(t)
	r := testenv.StartRedis(t)
	pol, err := policy.Parse("cluster.yaml", []byte(`
version: cluster-1
categories:
  transactional: { class: transactional }
  marketing:     { class: marketing }
caps:
  - { id: customer-hourly, scope: customer, window: 1h, max: 3, classes: [marketing] }
producers:
  svc: { categories: [transactional] }
`))
	if err != nil {
		t.Fatal(err)
	}
	subjects := bus.NewSubjects("")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	connect := func(name string) (*nats.Conn, jetstream.JetStream) {
		t.Helper()
		nc, err := nats.Connect(cluster.URL, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		// A short publish-ack timeout: acks lost with the server come back
		// as retries within the test's time.
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return nc, js
	}
	_, admin := connect("admin")
	so := bus.DefaultStreamOptions()
	so.Replicas = 3
	if err := subjects.EnsureStreams(ctx, admin, so); err != nil {
		t.Fatal(err)
	}

	var replicas []*nats.Conn
	consuming := make(chan struct{}, 2)
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	for i := range 2 {
		nc, js := connect(fmt.Sprintf("gatekeeper-%d", i))
		replicas = append(replicas, nc)
		gk := gatekeeper.New(js, store.New(r.Client, r.Prefix), pol, gatekeeper.Options{
			Subjects: subjects, Workers: 16, AckWait: 3 * time.Second,
			RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, Logger: slog.New(&signalHandler{msg: "gatekeeper consuming", ch: consuming, next: testHandler()}),
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gk.Run(runCtx); err != nil {
				t.Errorf("gatekeeper %d: %v", i, err)
			}
		}()
	}
	t.Cleanup(func() { stop(); wg.Wait() })
	// Both replicas are consuming before anything is lost: losing a
	// server is what this test is about, not a replica's start-up racing
	// with it.
	for range replicas {
		select {
		case <-consuming:
		case <-time.After(30 * time.Second):
			t.Fatal("the replicas are not both consuming after 30s")
		}
	}

	// The producer retries until JetStream stores each intent; a retry
	// carries the same Nats-Msg-Id, so it is never stored twice.
	_, pjs := connect("producer")
	const n = 600
	publish := func(i int) {
		category := "transactional"
		if i%2 == 0 {
			category = "marketing"
		}
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("cl-%d", i), CustomerId: fmt.Sprintf("c-%d", i%50),
			Channel: "email", Category: category, Topic: "news", Sender: &hushv1.Sender{Service: "svc"},
			CreatedAt: timestamppb.Now()}
		data, err := proto.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(subjects.Intent("svc", "email"))
		m.Data = data
		m.Header.Set(bus.HeaderMsgID, it.Id)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := pjs.PublishMsg(pctx, m)
			pcancel()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("publish %s: %v", it.Id, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range n {
		if i == n/3 {
			// Lose the server the first replica talks to, mid-run.
			name := replicas[0].ConnectedServerName()
			for j, s := range cluster.Servers {
				if s.Name() == name {
					t.Logf("shutting down %s after %d intents", name, i)
					cluster.Stop(j)
				}
			}
		}
		publish(i)
	}

	// Every intent has exactly one outcome, and nothing more arrives.
	count := func(kind string) uint64 {
		s, err := admin.Stream(ctx, subjects.Stream(kind))
		if err != nil {
			return 0
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	deadline := time.Now().Add(90 * time.Second)
	for count(bus.StreamDispatch)+count(bus.StreamSuppressed) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 90s: %d dispatched + %d suppressed of %d intents", count(bus.StreamDispatch), count(bus.StreamSuppressed), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	// The audit reads each stream whole; a read that meets the cluster still
	// settling after the loss (no responders, a moved leader) starts over.
	readAll := func(kind string) (map[string]int, error) {
		s, err := admin.Stream(ctx, subjects.Stream(kind))
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		total := int(info.State.Msgs)
		c, err := admin.OrderedConsumer(ctx, subjects.Stream(kind), jetstream.OrderedConsumerConfig{})
		if err != nil {
			return nil, err
		}
		ids := map[string]int{}
		for got := 0; got < total; {
			batch, err := c.Fetch(total-got, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				return nil, err
			}
			for m := range batch.Messages() {
				ids[m.Headers().Get(bus.HeaderMsgID)]++
				got++
			}
			if err := batch.Error(); err != nil {
				return nil, err
			}
		}
		return ids, nil
	}
	seen := map[string]int{}
	for _, kind := range []string{bus.StreamDispatch, bus.StreamSuppressed} {
		var ids map[string]int
		for attempt := 1; ; attempt++ {
			if ids, err = readAll(kind); err == nil {
				break
			}
			if attempt == 10 {
				t.Fatalf("read %s: %v", kind, err)
			}
			t.Logf("read %s: %v; reading it again", kind, err)
			time.Sleep(500 * time.Millisecond)
		}
		for id, c := range ids {
			seen[id] += c
		}
	}
	for i := range n {
		if id := fmt.Sprintf("cl-%d", i); seen[id] != 1 {
			t.Errorf("intent %s has %d outcomes, want exactly 1", id, seen[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct outcomes, want %d", len(seen), n)
	}
	if d := count(bus.StreamDeadLetter); d != 0 {
		t.Errorf("%d dead letters, want none", d)
	}
}

// testHandler logs warnings to stderr when HUSH_TEST_LOG is set.
func testHandler() slog.Handler {
	if os.Getenv("HUSH_TEST_LOG") == "" {
		return slog.DiscardHandler
	}
	return slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
}

// signalHandler passes records on and signals ch when one says msg.
type signalHandler struct {
	msg  string
	ch   chan<- struct{}
	next slog.Handler
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.ch <- struct{}{}
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *signalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &signalHandler{h.msg, h.ch, h.next.WithAttrs(as)}
}

func (h *signalHandler) WithGroup(name string) slog.Handler {
	return &signalHandler{h.msg, h.ch, h.next.WithGroup(name)}
}
