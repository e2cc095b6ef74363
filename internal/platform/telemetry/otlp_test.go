package telemetry_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hush-oss/hush/internal/platform/telemetry"
	"github.com/hush-oss/hush/internal/platform/telemetry/otlptest"
)

func TestSpansArriveOverOTLPgRPC(t *testing.T) {
	rcv := otlptest.Start(t)
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.Endpoint,
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=test",
	}
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{
		ServiceName: "hush-gatekeeper", ServiceVersion: "1.2.3", Getenv: func(k string) string { return env[k] },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tel.Tracing || tel.Endpoint != rcv.Endpoint {
		t.Fatalf("tracing %v to %q; want on, to %s", tel.Tracing, tel.Endpoint, rcv.Endpoint)
	}
	ctx, parent := tel.TracerProvider.Tracer("test").Start(context.Background(), "hush.intent process", trace.WithSpanKind(trace.SpanKindConsumer))
	_, child := tel.TracerProvider.Tracer("test").Start(ctx, "hush.decide")
	child.End()
	parent.End()

	// Shutdown flushes the batch: what was recorded reaches the collector.
	sctx, cancel := context.WithTimeout(context.Background(), telemetry.ShutdownTimeout)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	spans, ok := rcv.WaitFor(10*time.Second, func(s []otlptest.Span) bool { return len(s) >= 2 })
	if !ok {
		t.Fatalf("received %d spans, want 2", len(spans))
	}
	byName := map[string]otlptest.Span{}
	for _, s := range spans {
		byName[s.GetName()] = s
		if s.Service != "hush-gatekeeper" {
			t.Errorf("span %q from service %q, want hush-gatekeeper", s.GetName(), s.Service)
		}
	}
	p, c := byName["hush.intent process"], byName["hush.decide"]
	if p.Span == nil || c.Span == nil {
		t.Fatalf("received %v", byName)
	}
	if hex.EncodeToString(c.GetParentSpanId()) != parent.SpanContext().SpanID().String() ||
		hex.EncodeToString(c.GetTraceId()) != parent.SpanContext().TraceID().String() {
		t.Errorf("child's parent %x in trace %x; want %s in %s", c.GetParentSpanId(), c.GetTraceId(),
			parent.SpanContext().SpanID(), parent.SpanContext().TraceID())
	}
	if p.GetKind().String() != "SPAN_KIND_CONSUMER" {
		t.Errorf("kind %s, want consumer", p.GetKind())
	}
}

func TestTracingIsOffWithoutAnEndpointYetContextStillFlows(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"no endpoint":   {},
		"sdk disabled":  {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_SDK_DISABLED": "true"},
		"exporter none": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_TRACES_EXPORTER": "none"},
	} {
		t.Run(name, func(t *testing.T) {
			tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "x", Getenv: func(k string) string { return env[k] }})
			if err != nil {
				t.Fatal(err)
			}
			defer tel.Shutdown(context.Background())
			if tel.Tracing {
				t.Fatal("tracing is on")
			}
			// A producer's context passes through a no-op provider to the
			// next hop unchanged.
			in := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
			ctx := tel.Propagator.Extract(context.Background(), mapCarrier(in))
			ctx, span := tel.TracerProvider.Tracer("t").Start(ctx, "hush.intent process")
			defer span.End()
			out := mapCarrier{}
			tel.Propagator.Inject(ctx, out)
			if out["traceparent"] != in["traceparent"] {
				t.Errorf("traceparent %q, want %q", out["traceparent"], in["traceparent"])
			}
		})
	}
}

type mapCarrier map[string]string

func (m mapCarrier) Get(k string) string { return m[k] }
func (m mapCarrier) Set(k, v string)     { m[k] = v }
func (m mapCarrier) Keys() []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
