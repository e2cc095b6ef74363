package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/telemetry"
)

// world is a NATS server with Hush's streams and a telemetry set-up whose
// routes the health checks are served on.
type world struct {
	tel      *telemetry.Telemetry
	nats     *testenv.NATS
	js       jetstream.JetStream
	subjects bus.Subjects
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{subjects: bus.NewSubjects("")}
	var err error
	w.tel, err = telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.tel.Shutdown(context.Background()) })
	w.nats = testenv.StartNATS(t)
	_, w.js = w.nats.Connect(t)
	testenv.EnsureStreams(t, w.js, w.subjects)
	return w
}

func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Client.Options().Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func testenvEnsure(t *testing.T, w *world) {
	t.Helper()
	testenv.EnsureStreams(t, w.js, w.subjects)
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

// TestProbesLeaveNoTraces calls /readyz and /healthz against an
// instrumented Redis client: a probe's PING has no parent span and must not
// start a trace (a readiness probe every few seconds would flood Jaeger),
// while a call made inside a span is still traced.
func TestProbesLeaveNoTraces(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "t", SpanExporter: spans})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	rdb := testRedis(t)
	if err := telemetry.InstrumentRedis(rdb, tel.TracerProvider); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	tel.Routes(mux, telemetry.NewHealth(telemetry.RedisPing(rdb)))
	for _, path := range []string{"/readyz", "/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	ctx, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "work")
	rdb.Ping(ctx)
	span.End()
	var names []string
	for _, s := range spans.GetSpans() {
		names = append(names, s.Name+"<-"+s.Parent.SpanID().String())
		if !s.Parent.IsValid() && s.Name != "work" {
			t.Errorf("root span %q: probes must not start traces", s.Name)
		}
	}
	if len(names) != 2 {
		t.Errorf("spans %v, want work and its ping", names)
	}
}
