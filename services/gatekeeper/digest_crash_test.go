package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// digestCrashPolicy folds every newsletter into digests of three, released
// as soon as they are full (the 03:00 release never comes in the test).
const digestCrashPolicy = `
version: digest-crash-1
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  newsletter:    { class: marketing }
digest:
  categories: [newsletter]
  at: "03:00"
  max_pending: 3
producers:
  demo: { categories: [critical, transactional] }
`

// readStream returns every message of a stream.
func (e *crashEnv) readStream(kind string) []jetstream.Msg {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.js.OrderedConsumer(ctx, e.subjects.Stream(kind), jetstream.OrderedConsumerConfig{})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []jetstream.Msg
	for left := info.NumPending; left > 0; {
		batch, err := c.Fetch(int(left), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, m)
			left--
		}
		if batch.Error() != nil {
			e.t.Fatal(batch.Error())
		}
	}
	return out
}

// TestEveryFoldedIntentIsInExactlyOneDigestUnderSIGKILL: intents are
// folded into digests of three while gatekeepers are SIGKILLed one after
// another, mid-fold, mid-schedule and mid-release. In the end every intent
// has exactly one outcome, folded, and is in exactly one dispatched digest,
// the one its outcome names; no intent is dispatched alone and no digest
// twice.
func TestEveryFoldedIntentIsInExactlyOneDigestUnderSIGKILL(t *testing.T) {
	e := newCrashEnv(t)
	e.policy = filepath.Join(t.TempDir(), "digest.yaml")
	if err := os.WriteFile(e.policy, []byte(digestCrashPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	const customers, each = 20, 30
	const n = customers * each
	var futs []jetstream.PubAckFuture
	for i := range n {
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("dg-%05d", i), CustomerId: fmt.Sprintf("c-%03d", i%customers), Channel: "email",
			Category: "newsletter", Sender: &hushv1.Sender{Service: "demo"}, CreatedAt: timestamppb.Now(), Payload: []byte(fmt.Sprint("news ", i))}
		data, _ := proto.Marshal(it)
		f, err := e.js.PublishAsync(e.subjects.Intent("demo", "email"), data, jetstream.WithMsgID(it.GetId()))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}

	// Kill one of two gatekeepers every 400ms while they work, and start
	// another in its place.
	const kills = 10
	running := []*gk{e.start(), e.start()}
	running[0].consuming(t)
	for k := range kills {
		time.Sleep(400 * time.Millisecond)
		running[k%2].kill()
		running[k%2] = e.start()
	}
	const want = n + n/3 // every fold logged, and every digest dispatched
	waitUntil(t, 120*time.Second, "every intent folded and every digest released", func() bool { return e.outcomes() >= want })
	time.Sleep(500 * time.Millisecond) // anything beyond would be a duplicate

	folded := map[string]string{} // intent id -> digest id
	for _, m := range e.readStream(bus.StreamSuppressed) {
		rec := new(hushv1.SuppressionRecord)
		if err := proto.Unmarshal(m.Data(), rec); err != nil {
			t.Fatal(err)
		}
		d := rec.GetDecision()
		if d.GetOutcome() != hushv1.Outcome_OUTCOME_FOLDED {
			t.Errorf("%s: %v, want folded", d.GetIntentId(), d)
			continue
		}
		if _, dup := folded[d.GetIntentId()]; dup {
			t.Errorf("%s has two outcomes", d.GetIntentId())
		}
		folded[d.GetIntentId()] = d.GetDigestId()
	}
	in := map[string]string{}
	digests := 0
	for _, m := range e.readStream(bus.StreamDispatch) {
		id := m.Headers().Get(gatekeeper.HeaderDigest)
		if id == "" {
			t.Errorf("an intent dispatched alone: %s", m.Headers().Get(bus.HeaderMsgID))
			continue
		}
		dg := new(hushv1.Digest)
		if err := proto.Unmarshal(m.Data(), dg); err != nil {
			t.Fatal(err)
		}
		digests++
		for _, it := range dg.GetIntents() {
			if prev, dup := in[it.GetId()]; dup {
				t.Errorf("%s is in digests %s and %s", it.GetId(), prev, id)
			}
			in[it.GetId()] = id
		}
	}
	if len(folded) != n || len(in) != n || digests != n/3 {
		t.Errorf("%d folded, %d in digests, %d digests; want %d, %d, %d", len(folded), len(in), digests, n, n, n/3)
	}
	for id, dg := range folded {
		if in[id] != dg {
			t.Errorf("%s: its outcome names digest %s, it is in %q", id, dg, in[id])
		}
	}
	if dead := e.msgs(bus.StreamDeadLetter); dead != 0 {
		t.Errorf("%d dead letters", dead)
	}
	t.Logf("%d intents folded into %d digests across %d SIGKILLs", len(folded), digests, kills)
}
