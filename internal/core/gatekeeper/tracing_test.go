package gatekeeper_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
	"github.com/hush-oss/hush/internal/platform/telemetry"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const telPolicy = `
version: trace-test-7
categories:
  transactional: { class: transactional }
  marketing:     { class: marketing }
producers:
  py-billing: { categories: [transactional] }
`

// Destinations that must never appear in a span attribute.
const (
	telEmail = "ada.lovelace@example.com"
	telPhone = "+447700900123"
)

// telWorld is one Hush on real servers with a gatekeeper whose telemetry goes
// to an in-memory exporter.
type telWorld struct {
	t        *testing.T
	spans    *tracetest.InMemoryExporter
	tel      *telemetry.Telemetry
	metrics  *gatekeeper.Metrics
	nats     *testenv.NATS
	js       jetstream.JetStream
	subjects bus.Subjects
	store    *store.Store
}

func newTelWorld(t *testing.T) *telWorld { return newTelWorldPipelined(t, false) }

// newTelWorldPipelined is newTelWorld with the store on go-redis's
// AutoPipeliner when autopipeline is set, as the gatekeeper runs by default.
func newTelWorldPipelined(t *testing.T, autopipeline bool) *telWorld {
	t.Helper()
	w := &telWorld{t: t, spans: tracetest.NewInMemoryExporter(), subjects: bus.NewSubjects("")}
	var err error
	w.tel, err = telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "hush-gatekeeper", SpanExporter: w.spans})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.tel.Shutdown(context.Background()) })
	if w.metrics, err = gatekeeper.NewMetrics(w.tel.MeterProvider); err != nil {
		t.Fatal(err)
	}
	w.nats = testenv.StartNATS(t)
	_, w.js = w.nats.Connect(t)
	testenv.EnsureStreams(t, w.js, w.subjects)
	r := testenv.StartRedis(t)

	pol, err := policy.Parse("test.yaml", []byte(telPolicy))
	if err != nil {
		t.Fatal(err)
	}
	_, gjs, err := connect.NATS(w.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Client.Options().Addr})
	t.Cleanup(func() { rdb.Close() })
	if err := telemetry.InstrumentRedis(rdb, w.tel.TracerProvider, w.metrics.RedisHook()); err != nil {
		t.Fatal(err)
	}
	var storeClient redis.UniversalClient = rdb
	if autopipeline {
		ap, err := rdb.AutoPipeline()
		if err != nil {
			t.Fatal(err)
		}
		storeClient = ap
	}
	w.store = store.New(storeClient, r.Prefix)
	consuming := make(chan struct{})
	gk := gatekeeper.New(gjs, w.store, pol, gatekeeper.Options{
		Subjects: w.subjects, TracerProvider: w.tel.TracerProvider, Propagator: w.tel.Propagator, Observer: w.metrics,
		Logger: slog.New(onLogMessage{"gatekeeper consuming", consuming, new(sync.Once)}),
	})
	if err := w.metrics.ObserveConsumer(w.js, w.subjects.Stream(bus.StreamIntents), gk.ConsumerConfig().Durable); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	select { // every consumer created: stopping now is a drain, not an aborted start
	case <-consuming:
	case err := <-done:
		t.Fatalf("gatekeeper stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gatekeeper not consuming within 30s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gatekeeper: %v", err)
		}
		gjs.Conn().Close()
	})
	return w
}

// onLogMessage is a log handler that closes a channel on the first record
// with a given message.
type onLogMessage struct {
	msg  string
	seen chan struct{}
	once *sync.Once
}

func (h onLogMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onLogMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}
func (h onLogMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onLogMessage) WithGroup(string) slog.Handler      { return h }

func telIntent(id, customer, channel, category, destination string) *hushv1.ContactIntent {
	return &hushv1.ContactIntent{
		Id: id, CustomerId: customer, Channel: channel, Category: category, Topic: "news",
		Destination: destination, Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.Now(),
	}
}

// waitMsgs reads the n messages of a stream, waiting up to 30s for them.
func (w *telWorld) waitMsgs(kind string, n int) []jetstream.Msg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := w.js.OrderedConsumer(ctx, w.subjects.Stream(kind), jetstream.OrderedConsumerConfig{})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		m, err := c.Next(jetstream.FetchMaxWait(time.Until(telDeadline(ctx))))
		if err != nil {
			w.t.Fatalf("%s: have %d of %d messages: %v", kind, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func telDeadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// waitSpans waits until every predicate matches an ended span and returns
// every span ended so far. The CONSUMER span ends when its worker is done,
// which may come after the outcome's PRODUCER span has ended.
func (w *telWorld) waitSpans(preds ...func(tracetest.SpanStub) bool) tracetest.SpanStubs {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := w.spans.GetSpans()
		matched := 0
		for _, p := range preds {
			if slices.ContainsFunc(all, p) {
				matched++
			}
		}
		if matched == len(preds) {
			return all
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("spans not ended within 30s; have:\n%s", describeSpans(all))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isConsumerSpan(s tracetest.SpanStub) bool {
	return s.SpanKind == trace.SpanKindConsumer && s.Name == "hush.intent process"
}

func describeSpans(spans tracetest.SpanStubs) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %q trace=%s span=%s parent=%s\n", s.SpanKind, s.Name, s.SpanContext.TraceID(), s.SpanContext.SpanID(), s.Parent.SpanID())
	}
	return b.String()
}

// findSpan returns the one span of kind whose name starts with prefix in trace.
func findSpan(t *testing.T, spans tracetest.SpanStubs, tid trace.TraceID, kind trace.SpanKind, prefix string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.SpanContext.TraceID() == tid && s.SpanKind == kind && strings.HasPrefix(s.Name, prefix) {
			found = append(found, s)
		}
	}
	if len(found) == 0 {
		t.Fatalf("no %s span %q… in trace %s; spans:\n%s", kind, prefix, tid, describeSpans(spans))
	}
	return found[0]
}

func spanAttr(s tracetest.SpanStub, key string) attribute.Value {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// parseTraceparent parses a W3C traceparent header.
func parseTraceparent(t *testing.T, h string) (trace.TraceID, trace.SpanID) {
	t.Helper()
	parts := strings.Split(h, "-")
	if len(parts) != 4 || parts[0] != "00" {
		t.Fatalf("traceparent %q is not W3C version 00", h)
	}
	tid, err := trace.TraceIDFromHex(parts[1])
	if err != nil {
		t.Fatalf("traceparent %q: %v", h, err)
	}
	sid, err := trace.SpanIDFromHex(parts[2])
	if err != nil {
		t.Fatalf("traceparent %q: %v", h, err)
	}
	return tid, sid
}

// noPersonalDataInSpans fails when any attribute of any span holds a destination.
func noPersonalDataInSpans(t *testing.T, spans tracetest.SpanStubs, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		for _, a := range s.Attributes {
			v := a.Value.String()
			for _, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("span %q attribute %s holds %q", s.Name, a.Key, secret)
				}
			}
		}
		for _, e := range s.Events {
			for _, a := range e.Attributes {
				for _, secret := range secrets {
					if strings.Contains(a.Value.String(), secret) {
						t.Errorf("span %q event %q attribute %s holds %q", s.Name, e.Name, a.Key, secret)
					}
				}
			}
		}
	}
}

func TestOneTraceFromProducerThroughDecisionToDispatch(t *testing.T) {
	w := newTelWorld(t)

	// A Go producer: a PRODUCER span, its context injected into the
	// intent's headers, exactly as the client SDK does.
	producer := w.tel.TracerProvider.Tracer("producer-under-test")
	ctx, pspan := producer.Start(context.Background(), "hush.intent.email publish", trace.WithSpanKind(trace.SpanKindProducer))
	m := nats.NewMsg(w.subjects.Intent("campaigns", "email"))
	m.Data, _ = proto.Marshal(telIntent("trace-1", "c-trace", "email", "marketing", telEmail))
	w.tel.Propagator.Inject(ctx, bus.HeaderCarrier(m.Header))
	if _, err := w.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	pspan.End()
	tid := pspan.SpanContext().TraceID()

	dispatched := w.waitMsgs(bus.StreamDispatch, 1)[0]
	spans := w.waitSpans(isConsumerSpan, func(s tracetest.SpanStub) bool {
		return s.SpanKind == trace.SpanKindProducer && strings.HasPrefix(s.Name, "hush.dispatch.")
	})

	consume := findSpan(t, spans, tid, trace.SpanKindConsumer, "hush.intent process")
	decide := findSpan(t, spans, tid, trace.SpanKindInternal, "hush.decide")
	dispatch := findSpan(t, spans, tid, trace.SpanKindProducer, "hush.dispatch.email publish")
	var redisSpans []tracetest.SpanStub
	for _, s := range spans {
		if s.SpanKind == trace.SpanKindClient && spanAttr(s, "db.system").AsString() == "redis" && s.Parent.SpanID() == decide.SpanContext.SpanID() {
			redisSpans = append(redisSpans, s)
		}
	}

	if consume.Parent.SpanID() != pspan.SpanContext().SpanID() || !consume.Parent.IsRemote() {
		t.Errorf("CONSUMER span's parent is %s, want the producer's span %s (remote)", consume.Parent.SpanID(), pspan.SpanContext().SpanID())
	}
	if decide.Parent.SpanID() != consume.SpanContext.SpanID() {
		t.Errorf("decide span's parent is %s, want the CONSUMER span %s", decide.Parent.SpanID(), consume.SpanContext.SpanID())
	}
	if len(redisSpans) == 0 {
		t.Errorf("no Redis span is a child of the decide span; spans:\n%s", describeSpans(spans))
	}
	for _, s := range spans {
		if s.Name == "redis.dial" {
			t.Errorf("a Redis dial span (a root of its own): %s", describeSpans(tracetest.SpanStubs{s}))
		}
	}
	if dispatch.Parent.SpanID() != consume.SpanContext.SpanID() {
		t.Errorf("dispatch PRODUCER span's parent is %s, want the CONSUMER span %s", dispatch.Parent.SpanID(), consume.SpanContext.SpanID())
	}

	// The dispatch message carries the context on to the channel senders,
	// under the lowercase name W3C defines.
	tp := dispatched.Headers()["traceparent"]
	if len(tp) != 1 {
		t.Fatalf("dispatch headers %v: want one lowercase traceparent", dispatched.Headers())
	}
	gotTID, gotSID := parseTraceparent(t, tp[0])
	if gotTID != tid || gotSID != dispatch.SpanContext.SpanID() {
		t.Errorf("dispatch traceparent names trace %s span %s; want trace %s span %s (the PRODUCER span)", gotTID, gotSID, tid, dispatch.SpanContext.SpanID())
	}

	// Messaging conventions and the decision on the spans.
	for _, want := range []struct {
		span tracetest.SpanStub
		key  string
		val  string
	}{
		{consume, "messaging.system", "nats"},
		{consume, "messaging.operation.type", "process"},
		{consume, "messaging.destination.name", "hush.intent.campaigns.email"},
		{dispatch, "messaging.system", "nats"},
		{dispatch, "messaging.operation.type", "send"},
		{dispatch, "messaging.destination.name", "hush.dispatch.email"},
		{dispatch, "messaging.message.id", "trace-1"},
		{dispatch, "hush.outcome", "approved"},
		{consume, "hush.outcome", "approved"},
		{consume, "hush.policy_version", "trace-test-7"},
	} {
		if got := spanAttr(want.span, want.key).String(); got != want.val {
			t.Errorf("span %q: %s = %q, want %q", want.span.Name, want.key, got, want.val)
		}
	}
	noPersonalDataInSpans(t, spans, telEmail)

	// The decision record names the same trace, for the suppression log
	// and `hushctl explain`.
	d, err := w.store.Decision(context.Background(), "c-trace", "trace-1")
	if err != nil || d == nil {
		t.Fatalf("decision: %v %v", d, err)
	}
	if d.GetTraceId() != tid.String() {
		t.Errorf("decision trace id %q, want %s", d.GetTraceId(), tid)
	}
}

func TestSuppressionSpansCarryReasonCodesAndNoPhoneNumber(t *testing.T) {
	w := newTelWorld(t)
	if _, _, err := w.store.SetPreferences(context.Background(), "c-sms", &hushv1.Preferences{CustomerId: "c-sms", OptedOutChannels: []string{"sms"}}, nil); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(w.subjects.Intent("campaigns", "sms"))
	m.Data, _ = proto.Marshal(telIntent("sms-1", "c-sms", "sms", "marketing", telPhone))
	if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	suppressed := w.waitMsgs(bus.StreamSuppressed, 1)[0]
	spans := w.waitSpans(isConsumerSpan, func(s tracetest.SpanStub) bool {
		return s.SpanKind == trace.SpanKindProducer && strings.HasPrefix(s.Name, "hush.suppressed.")
	})
	tid, _ := parseTraceparent(t, suppressed.Headers().Get("traceparent"))
	consume := findSpan(t, spans, tid, trace.SpanKindConsumer, "hush.intent process")
	publish := findSpan(t, spans, tid, trace.SpanKindProducer, "hush.suppressed.sms publish")
	for _, s := range []tracetest.SpanStub{consume, publish} {
		if got := spanAttr(s, "hush.outcome").AsString(); got != "suppressed" {
			t.Errorf("%s: hush.outcome %q, want suppressed", s.Name, got)
		}
		if got := spanAttr(s, "hush.reason_codes").AsStringSlice(); len(got) != 1 || got[0] != "opted_out" {
			t.Errorf("%s: hush.reason_codes %v, want [opted_out]", s.Name, got)
		}
		if got := spanAttr(s, "hush.policy_version").AsString(); got != "trace-test-7" {
			t.Errorf("%s: hush.policy_version %q", s.Name, got)
		}
	}
	noPersonalDataInSpans(t, spans, telPhone, strings.TrimPrefix(telPhone, "+"))
}

func TestLowercaseTraceparentFromANonGoProducerIsPickedUp(t *testing.T) {
	w := newTelWorld(t)
	// What a Python or Node producer sends: a plain NATS publish, JSON body,
	// header names as W3C writes them (lowercase), no Go SDK involved.
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	nc, err := nats.Connect(w.nats.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := nats.NewMsg("hush.intent.py-billing.email")
	m.Data = []byte(`{"id":"py-1","customerId":"c-py","channel":"email","category":"transactional","destination":"` + telEmail + `","sender":{"service":"py-billing"}}`)
	m.Header["content-type"] = []string{"application/json"}
	m.Header["traceparent"] = []string{"00-" + traceID + "-" + spanID + "-01"}
	m.Header["tracestate"] = []string{"vendor=opaque"}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	dispatched := w.waitMsgs(bus.StreamDispatch, 1)[0]
	spans := w.waitSpans(isConsumerSpan, func(s tracetest.SpanStub) bool {
		return s.SpanKind == trace.SpanKindProducer && strings.HasPrefix(s.Name, "hush.dispatch.")
	})
	tid, _ := trace.TraceIDFromHex(traceID)
	consume := findSpan(t, spans, tid, trace.SpanKindConsumer, "hush.intent process")
	if consume.Parent.SpanID().String() != spanID || !consume.Parent.IsRemote() {
		t.Errorf("CONSUMER span's parent %s, want the producer's span %s", consume.Parent.SpanID(), spanID)
	}
	if got := consume.Parent.TraceState().String(); got != "vendor=opaque" {
		t.Errorf("tracestate %q was not carried", got)
	}
	gotTID, _ := parseTraceparent(t, dispatched.Headers().Get("traceparent"))
	if gotTID != tid {
		t.Errorf("dispatch traceparent trace %s, want the producer's %s", gotTID, traceID)
	}
	noPersonalDataInSpans(t, spans, telEmail)
}

func telRedis(t *testing.T) *redis.Client {
	t.Helper()
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Client.Options().Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestRedisWorkIsAChildOfTheDecision reads the trace of an intent from a
// non-Go producer (lowercase traceparent) with the store pipelined and not:
// the decision's Redis span is a child of hush.decide in the producer's
// trace, and no Redis span starts a trace of its own.
func TestRedisWorkIsAChildOfTheDecision(t *testing.T) {
	for _, autopipeline := range []bool{true, false} {
		t.Run(fmt.Sprintf("autopipeline=%v", autopipeline), func(t *testing.T) {
			w := newTelWorldPipelined(t, autopipeline)
			const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
			nc, err := nats.Connect(w.nats.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			m := nats.NewMsg("hush.intent.py-billing.email")
			m.Data = []byte(`{"id":"ap-1","customerId":"c-ap","channel":"email","category":"transactional","sender":{"service":"py-billing"}}`)
			m.Header["content-type"] = []string{"application/json"}
			m.Header["traceparent"] = []string{"00-" + traceID + "-00f067aa0ba902b7-01"}
			if err := nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			w.waitMsgs(bus.StreamDispatch, 1)
			spans := w.waitSpans(isConsumerSpan, func(s tracetest.SpanStub) bool { return s.Name == store.SpanDecide })
			tid, _ := trace.TraceIDFromHex(traceID)
			decide := findSpan(t, spans, tid, trace.SpanKindInternal, "hush.decide")
			script := findSpan(t, spans, tid, trace.SpanKindClient, store.SpanDecide)
			if script.Parent.SpanID() != decide.SpanContext.SpanID() {
				t.Errorf("%s's parent is %s, want hush.decide %s; spans:\n%s", store.SpanDecide, script.Parent.SpanID(), decide.SpanContext.SpanID(), describeSpans(spans))
			}
			if got := spanAttr(script, "db.system").AsString(); got != "redis" {
				t.Errorf("%s db.system = %q", store.SpanDecide, got)
			}
			for _, name := range []string{"hush.intent process", "hush.decide"} {
				s := findSpan(t, spans, tid, map[string]trace.SpanKind{"hush.intent process": trace.SpanKindConsumer, "hush.decide": trace.SpanKindInternal}[name], name)
				if got := spanAttr(s, "hush.customer_id").AsString(); got != "c-ap" {
					t.Errorf("%s hush.customer_id = %q, want c-ap", name, got)
				}
			}
			for _, s := range spans {
				if s.SpanContext.TraceID() != tid {
					t.Errorf("a span outside the producer's trace (a root of its own): %s", describeSpans(tracetest.SpanStubs{s}))
				}
			}
		})
	}
}
