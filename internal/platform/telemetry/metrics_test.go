package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/platform/telemetry"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// sample returns the value of the first sample line of metric whose labels
// contain every one of labels.
func sample(text, metric string, labels ...string) (string, bool) {
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			f := strings.Fields(line)
			return f[len(f)-1], true
		}
	}
	return "", false
}

func TestDecisionsAreCountedInPrometheusFormat(t *testing.T) {
	w := newWorld(t)
	if _, _, err := w.store.SetPreferences(context.Background(), "c-out", &hushv1.Preferences{CustomerId: "c-out", OptedOutChannels: []string{"sms"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, it := range []*hushv1.ContactIntent{
		testIntent("m-1", "c-in", "email", "marketing", email),
		testIntent("m-2", "c-out", "sms", "marketing", phone),
	} {
		m := nats.NewMsg(w.subjects.Intent(it.GetChannel()))
		m.Data, _ = proto.Marshal(it)
		if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	// Undecodable input is dead-lettered.
	if _, err := w.js.Publish(context.Background(), "hush.intent.email", []byte{0xff, 0x01}); err != nil {
		t.Fatal(err)
	}
	w.waitMsgs(bus.StreamDeadLetter, 1)

	wants := []struct {
		metric string
		labels []string
		value  string
	}{
		{telemetry.MetricDecisions, []string{`outcome="approved"`, `reason="none"`, `channel="email"`, `category="marketing"`, `replayed="false"`}, "1"},
		{telemetry.MetricDecisions, []string{`outcome="suppressed"`, `reason="opted_out"`, `channel="sms"`}, "1"},
		{telemetry.MetricDecisionDuration + "_count", []string{`outcome="approved"`}, "1"},
		{telemetry.MetricDeadLetters, []string{`stage="decode"`}, "1"},
		{telemetry.MetricInFlight, nil, "0"},
		// Acks reach the server a moment after the outcome is counted.
		{telemetry.MetricConsumerPending, []string{`stream="HUSH_INTENTS"`, `consumer="gatekeeper"`}, "0"},
		{telemetry.MetricConsumerAckPending, []string{`consumer="gatekeeper"`}, "0"},
	}
	var text string
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		text, missing = scrape(t, w.tel.MetricsHandler()), nil
		for _, want := range wants {
			if got, ok := sample(text, want.metric, want.labels...); !ok || got != want.value {
				missing = append(missing, fmt.Sprintf("%s%v = %q (present %v), want %s", want.metric, want.labels, got, ok, want.value))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s:\n%s\n\n%s", strings.Join(missing, "\n"), text)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := sample(text, telemetry.MetricDecisionDuration+"_bucket", `le="0.005"`); !ok {
		t.Errorf("decision latency histogram has no 5ms bucket")
	}
	for _, leak := range []string{email, phone} {
		if strings.Contains(text, leak) {
			t.Errorf("/metrics holds %q", leak)
		}
	}
}

func TestRedisErrorsAreCountedAndMissingKeysAreNot(t *testing.T) {
	w := newWorld(t)
	rdb := testRedis(t)
	rdb.AddHook(w.metrics.RedisHook())
	ctx := context.Background()
	rdb.Get(ctx, "no-such-key")         // redis.Nil: an answer
	rdb.Do(ctx, "NO-SUCH-COMMAND", "x") // an error reply
	rdb.Incr(ctx, "text-then-incr")     // fine
	rdb.Set(ctx, "text", "abc", 0)      // fine
	rdb.Incr(ctx, "text")               // WRONGTYPE-like error: not an integer
	text := scrape(t, w.tel.MetricsHandler())
	if got, _ := sample(text, telemetry.MetricRedisErrors, `command="incr"`); got != "1" {
		t.Errorf("incr errors %q, want 1:\n%s", got, text)
	}
	if got, _ := sample(text, telemetry.MetricRedisErrors, `command="no-such-command"`); got != "1" {
		t.Errorf("unknown-command errors %q, want 1", got)
	}
	if _, ok := sample(text, telemetry.MetricRedisErrors, `command="get"`); ok {
		t.Errorf("a missing key was counted as an error")
	}
}

func TestHealthEndpoints(t *testing.T) {
	w := newWorld(t)
	nc, err := nats.Connect(w.nats.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rdb := testRedis(t)
	ready := true
	h := telemetry.NewHealth(telemetry.NATSConnected(nc), telemetry.RedisPing(rdb),
		telemetry.StreamsPresent(w.js, w.subjects.Stream(bus.StreamIntents), w.subjects.Stream(bus.StreamDispatch)),
		telemetry.Check{Name: "switch", Func: func(context.Context) error {
			if !ready {
				return io.ErrUnexpectedEOF
			}
			return nil
		}})
	mux := http.NewServeMux()
	w.tel.Routes(mux, h)
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %v, want 200", code, body)
	}
	ready = false
	if code, body := get("/readyz"); code != 503 || !strings.Contains(toJSON(body), "switch") {
		t.Errorf("/readyz %d %v, want 503 naming the failed check", code, body)
	}
	ready = true
	if err := w.js.DeleteStream(context.Background(), w.subjects.Stream(bus.StreamDispatch)); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(toJSON(body), "HUSH_DISPATCH") {
		t.Errorf("/readyz %d %v, want 503 naming the missing stream", code, body)
	}
	testenvEnsure(t, w)
	nc.Close()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(toJSON(body), "nats") {
		t.Errorf("/readyz %d %v with NATS closed, want 503", code, body)
	}
	h2 := telemetry.NewHealth()
	h2.Drain()
	if failed := h2.Ready(context.Background()); failed["draining"] == "" {
		t.Errorf("a draining service is ready: %v", failed)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d: alive even when not ready", code)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestLogsCarryTraceAndSpanIDs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "x")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	log.InfoContext(ctx, "in a span")
	log.InfoContext(context.Background(), "no span")
	log.InfoContext(ctx, "own trace", "trace_id", "given")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var recs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		recs = append(recs, m)
	}
	if recs[0]["trace_id"] != tid.String() || recs[0]["span_id"] != sid.String() || recs[0]["service"] != "x" {
		t.Errorf("in a span: %v", recs[0])
	}
	if _, ok := recs[1]["trace_id"]; ok {
		t.Errorf("no span, yet a trace id: %v", recs[1])
	}
	if recs[2]["trace_id"] != "given" || strings.Count(lines[2], "trace_id") != 1 {
		t.Errorf("a record's own trace_id must be kept once: %s", lines[2])
	}
}

func TestRetriesAreToldApartByStage(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m, err := telemetry.NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	m.Retried(fmt.Errorf("%w hush.dispatch.email: %w", gatekeeper.ErrPublish, errors.New("nats: timeout")))
	m.Retried(fmt.Errorf("publish hush.dispatch.email: %w", nats.ErrConnectionClosed))
	m.Retried(fmt.Errorf("publish hush.dispatch.email: %w", jetstream.ErrTooManyStalledMsgs))
	m.Retried(errors.New("decide i-1: dial tcp 127.0.0.1:6379: connect: connection refused"))
	text := scrape(t, tel.MetricsHandler())
	for _, want := range []struct{ metric, label, value string }{
		{telemetry.MetricRetries, `stage="publish"`, "3"},
		{telemetry.MetricRetries, `stage="decide"`, "1"},
		{telemetry.MetricNATSErrors, `kind="publish"`, "3"},
	} {
		if got, _ := sample(text, want.metric, want.label); got != want.value {
			t.Errorf("%s{%s} = %q, want %s", want.metric, want.label, got, want.value)
		}
	}
}

func TestDeferredBacklogCountsPendingSchedules(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	backlog := telemetry.DeferredBacklog(w.js, w.subjects.Stream(bus.StreamDeferred), w.subjects.All("deferred"))
	if n, err := backlog(ctx); err != nil || n != 0 {
		t.Fatalf("empty backlog: %d %v", n, err)
	}
	for _, subj := range []string{w.subjects.Deferred("c-1", "i-1"), w.subjects.Deferred("c-1", "i-2"), w.subjects.Deferred("c-2", "i-3"), w.subjects.Released("email")} {
		if _, err := w.js.Publish(ctx, subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.metrics.ObserveDeferredBacklog(backlog); err != nil {
		t.Fatal(err)
	}
	if got, _ := sample(scrape(t, w.tel.MetricsHandler()), telemetry.MetricDeferredBacklog); got != "3" {
		t.Errorf("%s = %q, want 3 (released intents are not waiting)", telemetry.MetricDeferredBacklog, got)
	}
	deferred, err := w.js.Stream(ctx, w.subjects.Stream(bus.StreamDeferred))
	if err != nil {
		t.Fatal(err)
	}
	if err := deferred.Purge(ctx, jetstream.WithPurgeSubject(w.subjects.Deferred("c-1", "i-1"))); err != nil {
		t.Fatal(err)
	}
	if n, err := backlog(ctx); err != nil || n != 2 {
		t.Errorf("after a cancellation: %d %v, want 2", n, err)
	}
}
