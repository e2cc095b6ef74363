// Package telemetry sets up tracing, metrics and trace-aware logging for
// every Hush binary in one place: an OTLP gRPC trace exporter configured by
// the standard OTEL_* variables (no-op when none is set), one W3C propagator,
// OTel metrics served in Prometheus format, and the health endpoints.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config says which service reports and how to reach the collector.
type Config struct {
	// ServiceName is service.name ("hush-gatekeeper"); OTEL_SERVICE_NAME
	// overrides it.
	ServiceName string
	// ServiceVersion is service.version.
	ServiceVersion string
	// Getenv reads the OTEL_* variables (os.Getenv in a binary, a map in a
	// test); nil reads none, so tracing stays off.
	Getenv func(string) string
	// SpanExporter, when set, replaces the OTLP exporter (tests use an
	// in-memory one). Spans are then exported synchronously.
	SpanExporter sdktrace.SpanExporter
}

// Telemetry holds the providers a binary passes to its parts. Shut it down
// last, after every part that records spans or metrics has stopped.
type Telemetry struct {
	// TracerProvider is a no-op provider when tracing is off: spans are not
	// recorded, yet a trace context received from a producer still flows to
	// the messages published downstream.
	TracerProvider trace.TracerProvider
	// Propagator is W3C trace context plus baggage.
	Propagator propagation.TextMapPropagator
	// MeterProvider feeds the Prometheus registry behind Handler.
	MeterProvider metric.MeterProvider
	// Tracing reports whether spans are exported.
	Tracing bool
	// Endpoint is where spans go ("" when tracing is off).
	Endpoint string

	registry *prometheus.Registry
	shutdown []func(context.Context) error
}

// Propagator is the one propagator Hush uses: W3C tracecontext and baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Setup builds the providers. Tracing is on when an OTLP endpoint is
// configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT) or an exporter is given, and off when
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Metrics are always on.
func Setup(ctx context.Context, c Config) (*Telemetry, error) {
	getenv := c.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	t := &Telemetry{Propagator: Propagator(), registry: prometheus.NewRegistry()}

	res, err := newResource(ctx, c, getenv)
	if err != nil {
		return nil, err
	}

	exp := c.SpanExporter
	if exp == nil && tracingEnabled(getenv) {
		var endpoint string
		if exp, endpoint, err = otlpExporter(ctx, getenv); err != nil {
			return nil, err
		}
		t.Endpoint = endpoint
	}
	if exp != nil {
		batch := sdktrace.WithBatcher(exp)
		if c.SpanExporter != nil {
			batch = sdktrace.WithSyncer(exp)
		}
		tp := sdktrace.NewTracerProvider(batch, sdktrace.WithResource(res), sdktrace.WithSampler(sampler(getenv)))
		t.TracerProvider, t.Tracing = tp, true
		t.shutdown = append(t.shutdown, tp.Shutdown)
	} else {
		t.TracerProvider = noop.NewTracerProvider()
	}

	// The registry is this binary's own, not the process-wide default, so
	// that tests can run several services in one process.
	t.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pe, err := promexporter.New(promexporter.WithRegisterer(t.registry), promexporter.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(pe), sdkmetric.WithResource(res))
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return t, nil
}

// InstallGlobals makes these providers and the propagator the process-wide
// OTel defaults, for instrumentation libraries that read them. A binary
// calls it once, right after Setup.
func (t *Telemetry) InstallGlobals() {
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTextMapPropagator(t.Propagator)
}

// MetricsHandler serves the metrics in Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{Registry: t.registry})
}

// Shutdown flushes spans still buffered and stops the providers. Call it on
// a fresh context (the binary's own is already cancelled by then) with a
// timeout: a collector that is down must not hold the exit.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		if err := f(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}

// ShutdownTimeout bounds the final flush.
const ShutdownTimeout = 5 * time.Second

func newResource(ctx context.Context, c Config, getenv func(string) string) (*resource.Resource, error) {
	attrs := parseKeyValues(getenv("OTEL_RESOURCE_ATTRIBUTES"))
	name := c.ServiceName
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	attrs = append(attrs, attribute.String("service.name", name), attribute.String("service.namespace", "hush"))
	if c.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", c.ServiceVersion))
	}
	// Schemaless attributes merge with the SDK's detectors whatever
	// semantic-convention version each was written against.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	return res, nil
}
