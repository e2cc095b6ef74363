package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const testPolicy = `
version: test-1
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  marketing:     { class: marketing }
caps:
  - { id: customer-hourly, scope: customer, window: 1h, max: 5, classes: [marketing] }
producers:
  campaigns: { categories: [critical, transactional] }
`

// harness is one Hush on real servers (an env: an in-process NATS server
// and a real redis-server, or the clusters of both), with gatekeepers
// started on demand.
type harness struct {
	t    *testing.T
	nats *testenv.NATS
	// redisURL is what each gatekeeper opens with connect.Redis; prefix
	// is the harness's own key prefix.
	redisURL string
	prefix   string
	// autoPipeline: gatekeepers decide through a go-redis AutoPipeliner,
	// as the binary does by default.
	autoPipeline bool
	nc           *nats.Conn
	js           jetstream.JetStream
	subjects     bus.Subjects
	store        *store.Store
	pol          *policy.Policy
}

// newHarness runs on a NATS server and a redis-server of the test's own,
// or, when the test runs as a subtest of one that shares an env
// (TestClusterEndToEnd), on that env.
func newHarness(t *testing.T) *harness {
	if e := sharedEnv(t); e != nil {
		return newHarnessOn(t, e)
	}
	return newHarnessOn(t, singleEnv(t))
}

func newHarnessOn(t *testing.T, e *env) *harness {
	t.Helper()
	h := &harness{t: t, nats: e.nats, redisURL: e.redisURL, prefix: e.nextPrefix(), subjects: bus.NewSubjects("")}
	h.nc, h.js = h.nats.Connect(t)
	e.freshStreams(t, h.js, h.subjects)
	h.store = store.New(e.rdb, h.prefix)
	var err error
	if h.pol, err = policy.Parse("test.yaml", []byte(testPolicy)); err != nil {
		t.Fatal(err)
	}
	return h
}

// startGatekeeper runs a gatekeeper replica with its own NATS and Redis
// connections; it is drained when the test ends, or earlier by the stop
// function it returns.
func (h *harness) startGatekeeper(o gatekeeper.Options) (stop func()) {
	h.t.Helper()
	nc, js, err := connect.NATS(h.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		h.t.Fatal(err)
	}
	rdb := h.redisClient(16)
	o.Subjects = h.subjects
	if o.RetryBase == 0 {
		o.RetryBase, o.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	}
	if os.Getenv("HUSH_TEST_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	gk := gatekeeper.New(js, store.New(rdb, h.prefix), h.pol, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	select { // every consumer is consuming once Ready is closed
	case <-gk.Ready():
	case err := <-done:
		h.t.Fatalf("gatekeeper stopped before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("gatekeeper not ready within 10s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					h.t.Errorf("gatekeeper: %v", err)
				}
			case <-time.After(30 * time.Second):
				h.t.Error("gatekeeper did not drain within 30s")
			}
			nc.Close()
			rdb.Close()
		})
	}
	h.t.Cleanup(stop)
	return stop
}

func intent(id, customer, channel, category string) *hushv1.ContactIntent {
	return &hushv1.ContactIntent{
		Id: id, CustomerId: customer, Channel: channel, Category: category, Topic: "news",
		Sender:    &hushv1.Sender{Service: "campaigns"},
		CreatedAt: timestamppb.Now(),
		Payload:   []byte("payload of " + id),
	}
}

func (h *harness) publish(it *hushv1.ContactIntent) {
	h.t.Helper()
	data, err := proto.Marshal(it)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishRaw(h.subjects.Intent(it.GetSender().GetService(), it.GetChannel()), data, nil)
}

func (h *harness) publishRaw(subject string, data []byte, hdr nats.Header) {
	h.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	for k, v := range hdr {
		m.Header[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.js.PublishMsg(ctx, m); err != nil {
		h.t.Fatalf("publish %s: %v", subject, err)
	}
}

// outcomes waits until the dispatch, suppression and dead-letter streams
// together hold want messages (and stay there briefly), then returns them.
func (h *harness) outcomes(want int) (dispatched, suppressed, dead []jetstream.Msg) {
	h.t.Helper()
	return h.outcomesWithin(want, 60*time.Second)
}

// outcomesWithin is outcomes with another bound than 60 s: for outcomes
// that come at a known instant, later than that.
func (h *harness) outcomesWithin(want int, wait time.Duration) (dispatched, suppressed, dead []jetstream.Msg) {
	h.t.Helper()
	deadline := time.Now().Add(wait)
	count := func() int {
		n := 0
		for _, k := range []string{bus.StreamDispatch, bus.StreamSuppressed, bus.StreamDeadLetter} {
			n += int(h.streamMsgs(k))
		}
		return n
	}
	for count() < want {
		if time.Now().After(deadline) {
			h.t.Fatalf("waited %s for %d outcomes, have %d", wait, want, count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything beyond want would be a duplicate
	return h.read(bus.StreamDispatch), h.read(bus.StreamSuppressed), h.read(bus.StreamDeadLetter)
}

func (h *harness) streamMsgs(kind string) uint64 {
	s, err := h.js.Stream(context.Background(), h.subjects.Stream(kind))
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

func (h *harness) read(kind string) []jetstream.Msg {
	h.t.Helper()
	n := int(h.streamMsgs(kind))
	if n == 0 {
		return nil
	}
	// On a NATS cluster the first pull can beat the news of its new
	// consumer to the server it reaches (no responders): read again.
	for attempt := 1; ; attempt++ {
		out, err := h.readN(kind, n)
		if err == nil {
			return out
		}
		if !errors.Is(err, nats.ErrNoResponders) || attempt == 5 {
			h.t.Fatalf("read %s: %v", kind, err)
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
}

func (h *harness) readN(kind string, n int) ([]jetstream.Msg, error) {
	ctx := context.Background()
	c, err := h.js.OrderedConsumer(ctx, h.subjects.Stream(kind), jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for len(out) < n {
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if batch.Error() != nil {
			return nil, batch.Error()
		}
	}
	return out, nil
}

func suppression(t *testing.T, m jetstream.Msg) *hushv1.SuppressionRecord {
	t.Helper()
	rec := new(hushv1.SuppressionRecord)
	if err := proto.Unmarshal(m.Data(), rec); err != nil {
		t.Fatalf("suppression record: %v", err)
	}
	return rec
}

func deadLetter(t *testing.T, m jetstream.Msg) *hushv1.DeadLetter {
	t.Helper()
	dl := new(hushv1.DeadLetter)
	if err := proto.Unmarshal(m.Data(), dl); err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	return dl
}

func (h *harness) setPrefs(customer string, p *hushv1.Preferences) {
	h.t.Helper()
	p.CustomerId = customer
	if _, _, err := h.store.SetPreferences(context.Background(), customer, p, nil); err != nil {
		h.t.Fatal(err)
	}
}

func TestApprovedIntentIsDispatchedWithSameIDAndPayload(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	it := intent("i-1", "c-1", "email", "marketing")
	h.publish(it)

	dispatched, suppressed, dead := h.outcomes(1)
	if len(dispatched) != 1 || len(suppressed) != 0 || len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead %d; want 1, 0, 0", len(dispatched), len(suppressed), len(dead))
	}
	m := dispatched[0]
	if m.Subject() != "hush.dispatch.email" {
		t.Errorf("subject %q, want hush.dispatch.email", m.Subject())
	}
	if got := m.Headers().Get(nats.MsgIdHdr); got != "i-1" {
		t.Errorf("Nats-Msg-Id %q, want i-1", got)
	}
	got, err := bus.DecodeIntent(m.Data(), m.Headers())
	if err != nil {
		t.Fatal(err)
	}
	if got.GetId() != "i-1" || string(got.GetPayload()) != "payload of i-1" {
		t.Errorf("dispatched id %q payload %q; want the intent unchanged", got.GetId(), got.GetPayload())
	}
}

func TestSuppressionsCarryTheirReason(t *testing.T) {
	h := newHarness(t)
	h.setPrefs("opted-out", &hushv1.Preferences{OptedOutChannels: []string{"sms"}})
	h.setPrefs("quiet", &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING})
	h.startGatekeeper(gatekeeper.Options{})

	h.publish(intent("sms-1", "opted-out", "sms", "marketing"))
	h.publish(intent("email-1", "opted-out", "email", "marketing")) // only sms is opted out
	h.publish(intent("mkt-1", "quiet", "email", "marketing"))
	h.publish(intent("crit-1", "quiet", "push", "critical"))

	dispatched, suppressed, _ := h.outcomes(4)
	gotDispatched := map[string]bool{}
	for _, m := range dispatched {
		gotDispatched[m.Headers().Get(nats.MsgIdHdr)] = true
	}
	if !gotDispatched["email-1"] || !gotDispatched["crit-1"] || len(dispatched) != 2 {
		t.Errorf("dispatched %v; want email-1 and crit-1 (critical passes do-nothing)", gotDispatched)
	}
	want := map[string]hushv1.ReasonCode{
		"sms-1": hushv1.ReasonCode_REASON_CODE_OPTED_OUT,
		"mkt-1": hushv1.ReasonCode_REASON_CODE_DO_NOTHING,
	}
	if len(suppressed) != len(want) {
		t.Fatalf("suppressed %d, want %d", len(suppressed), len(want))
	}
	for _, m := range suppressed {
		rec := suppression(t, m)
		d := rec.GetDecision()
		code, ok := want[d.GetIntentId()]
		if !ok {
			t.Errorf("unexpected suppression of %s", d.GetIntentId())
			continue
		}
		if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || len(d.GetReasons()) != 1 || d.GetReasons()[0].GetCode() != code {
			t.Errorf("%s: decision %v; want suppressed with %v", d.GetIntentId(), d, code)
		}
		if d.GetPolicyVersion() != "test-1" || d.GetReasons()[0].GetMessage() == "" {
			t.Errorf("%s: want policy version and a reason sentence, got %v", d.GetIntentId(), d)
		}
		if rec.GetIntent().GetPayload() != nil {
			t.Errorf("%s: the suppression log must not carry the payload", d.GetIntentId())
		}
		if !strings.HasPrefix(m.Subject(), "hush.suppressed.") {
			t.Errorf("subject %q", m.Subject())
		}
	}
}

func TestBadInputIsDeadLetteredAndTheConsumerGoesOn(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})

	h.publishRaw("hush.intent.email", []byte{0xff, 0x01, 0x02}, nil) // not protobuf
	h.publishRaw("hush.intent.fax", mustMarshal(t, intent("fax-1", "c-1", "fax", "marketing")), nil)
	noCustomer := intent("nc-1", "", "email", "marketing")
	h.publish(noCustomer)
	h.publishRaw("hush.intent.email", []byte(`{"id": "j-1", "customerId": `), nats.Header{"Content-Type": {"application/json"}})
	h.publish(intent("good-1", "c-1", "email", "marketing"))

	dispatched, _, dead := h.outcomes(5)
	if len(dispatched) != 1 || dispatched[0].Headers().Get(nats.MsgIdHdr) != "good-1" {
		t.Fatalf("dispatched %d; want good-1 decided after the bad input", len(dispatched))
	}
	if len(dead) != 4 {
		t.Fatalf("dead letters %d, want 4", len(dead))
	}
	wantErr := map[string]string{ // stream sequence order
		"decode":   "undecodable",
		"channel":  `unknown channel "fax"`,
		"customer": "customer_id: required",
		"json":     "undecodable",
	}
	got := []string{}
	for _, m := range dead {
		dl := deadLetter(t, m)
		got = append(got, dl.GetStage()+": "+dl.GetError())
		if len(dl.GetData()) == 0 || dl.GetSubject() == "" {
			t.Errorf("dead letter must carry the original message: %v", dl)
		}
	}
	all := strings.Join(got, "\n")
	for what, sub := range wantErr {
		if !strings.Contains(all, sub) {
			t.Errorf("no dead letter for %s (want %q) in:\n%s", what, sub, all)
		}
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRepublishedIntentIsDecidedOnceAndDispatchedOnce(t *testing.T) {
	h := newHarness(t)
	rec := &recorder{}
	h.startGatekeeper(gatekeeper.Options{Observer: rec})
	it := intent("dup-1", "c-1", "email", "marketing")
	h.publish(it) // no Nats-Msg-Id: the intents stream keeps both copies
	waitAcked(t, h, 1)
	first, err := h.store.Decision(context.Background(), "c-1", "dup-1")
	if err != nil || first == nil {
		t.Fatalf("decision: %v, %v", first, err)
	}
	h.publish(it)

	// Both copies are decided (wait for the second to be acked), yet one
	// dispatch exists and one contact was counted.
	waitAcked(t, h, 2)
	dispatched, suppressed, _ := h.outcomes(1)
	if len(dispatched) != 1 || len(suppressed) != 0 {
		t.Fatalf("dispatched %d, suppressed %d; want one dispatch", len(dispatched), len(suppressed))
	}
	assertLedger(t, h, "c-1", 1)
	// The second copy replayed the recorded decision: it did not decide
	// again (which, with the same ledger member, would count nothing
	// either and be deduplicated, so only these two checks can tell).
	if fresh, replayed := rec.decisions(); fresh != 1 || replayed != 1 {
		t.Fatalf("%d fresh and %d replayed decisions; want one of each", fresh, replayed)
	}
	assertRecordedOnce(t, h, "c-1", "dup-1", first)
}

func TestRedeliveryAfterFailedPublishReplaysTheDecision(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// Without the dispatch stream the publish fails after the decision is
	// recorded, and the intent is handed back.
	if err := h.js.DeleteStream(ctx, h.subjects.Stream(bus.StreamDispatch)); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h.startGatekeeper(gatekeeper.Options{Observer: rec})
	h.publish(intent("redo-1", "c-1", "email", "marketing"))

	deadline := time.Now().Add(30 * time.Second)
	var first *hushv1.Decision
	for {
		d, err := h.store.Decision(ctx, "c-1", "redo-1")
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			first = d
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no decision recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for consumerInfo(t, h).Delivered.Consumer < 2 { // failed publish, Nak, redelivery
		if time.Now().After(deadline) {
			t.Fatal("the intent was not handed back after its publish failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	testenv.EnsureStreams(t, h.js, h.subjects)

	dispatched, suppressed, dead := h.outcomes(1)
	if len(dispatched) != 1 || len(suppressed)+len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead %d; want exactly one dispatch", len(dispatched), len(suppressed), len(dead))
	}
	waitAcked(t, h, 1)
	assertLedger(t, h, "c-1", 1)
	// The dispatch is the recorded decision's, replayed: the redelivery
	// did not decide again.
	if fresh, replayed := rec.decisions(); fresh != 0 || replayed != 1 {
		t.Fatalf("%d fresh and %d replayed decisions published; want the one recorded decision replayed", fresh, replayed)
	}
	assertRecordedOnce(t, h, "c-1", "redo-1", first)
}

func consumerInfo(t *testing.T, h *harness) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := h.js.Consumer(context.Background(), h.subjects.Stream(bus.StreamIntents), "gatekeeper")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitAcked waits until the gatekeeper consumer has acknowledged n intents.
func waitAcked(t *testing.T, h *harness, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info := consumerInfo(t, h)
		if info.AckFloor.Stream >= n && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ack floor %d, %d pending; want %d acked", info.AckFloor.Stream, info.NumAckPending, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertLedger(t *testing.T, h *harness, customer string, want int) {
	t.Helper()
	got, err := h.store.Ledger(context.Background(), customer, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Errorf("ledger of %s holds %d contacts, want %d: %v", customer, len(got), want, got)
	}
}

func TestCapHoldsWithEightReplicasRacingOnOneCustomer(t *testing.T) {
	h := newHarness(t)
	const replicas, intents, limit = 8, 500, 5
	for range replicas {
		h.startGatekeeper(gatekeeper.Options{Workers: 16})
	}
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < intents; i += 10 {
				h.publish(intent(fmt.Sprintf("race-%03d", i), "hot", "email", "marketing"))
			}
		}()
	}
	wg.Wait()

	dispatched, suppressed, dead := h.outcomes(intents)
	if len(dispatched) != limit || len(suppressed) != intents-limit || len(dead) != 0 {
		t.Fatalf("dispatched %d, suppressed %d, dead %d; want %d, %d, 0", len(dispatched), len(suppressed), len(dead), limit, intents-limit)
	}
	for _, m := range suppressed {
		d := suppression(t, m).GetDecision()
		if len(d.GetReasons()) != 1 || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP {
			t.Fatalf("%s suppressed with %v, want frequency_cap", d.GetIntentId(), d.GetReasons())
		}
	}
	assertLedger(t, h, "hot", limit)
}

func TestJSONFromAPlainNATSClientIsDecidedLikeProtobuf(t *testing.T) {
	h := newHarness(t)
	h.setPrefs("json-out", &hushv1.Preferences{OptedOutChannels: []string{"email"}})
	h.startGatekeeper(gatekeeper.Options{})

	// What a producer in any language sends: a plain NATS publish with a
	// JSON body, lowercase header names included.
	nc, err := nats.Connect(h.nats.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := func(body string, hdrName string) {
		m := nats.NewMsg("hush.intent.py-campaigns.email")
		m.Data = []byte(body)
		m.Header[hdrName] = []string{"application/json"}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"id":"j-ok","customerId":"json-in","channel":"email","category":"marketing",`+
		`"sender":{"service":"py-campaigns"},"payload":"aGVsbG8="}`, "Content-Type")
	send(`{"id":"j-out","customer_id":"json-out","channel":"email","category":"marketing",`+
		`"sender":{"service":"py-campaigns"}}`, "content-type")
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	dispatched, suppressed, dead := h.outcomes(2)
	if len(dead) != 0 {
		t.Fatalf("dead-lettered: %v", deadLetter(t, dead[0]))
	}
	if len(dispatched) != 1 || len(suppressed) != 1 {
		t.Fatalf("dispatched %d, suppressed %d; want 1, 1", len(dispatched), len(suppressed))
	}
	got, err := bus.DecodeIntent(dispatched[0].Data(), dispatched[0].Headers())
	if err != nil {
		t.Fatal(err)
	}
	if got.GetId() != "j-ok" || string(got.GetPayload()) != "hello" {
		t.Errorf("dispatched %v; want j-ok with its payload", got)
	}
	if code := suppression(t, suppressed[0]).GetDecision().GetReasons()[0].GetCode(); code != hushv1.ReasonCode_REASON_CODE_OPTED_OUT {
		t.Errorf("j-out suppressed with %v, want opted_out", code)
	}
}

func TestOptOutIsHonouredByTheNextDecision(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	h.publish(intent("before", "c-9", "email", "marketing"))
	h.outcomes(1)
	// The gatekeeper has cached "no preferences" for c-9; the opt-out must
	// win over that cache as soon as it is acknowledged.
	h.setPrefs("c-9", &hushv1.Preferences{OptedOutChannels: []string{"email"},
		MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(time.Hour)}})
	h.publish(intent("after", "c-9", "email", "marketing"))
	_, suppressed, _ := h.outcomes(2)
	if len(suppressed) != 1 || suppression(t, suppressed[0]).GetDecision().GetIntentId() != "after" {
		t.Fatalf("want the intent after the opt-out suppressed, got %d suppressions", len(suppressed))
	}
}
