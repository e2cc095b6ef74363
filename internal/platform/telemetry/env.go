package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The variables below are read through Config.Getenv, as the OpenTelemetry
// specification defines them; the signal-specific one wins over the general
// one. TLS certificate variables are read by the exporter itself.
func tracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return false
	}
	if e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e != "" && !strings.EqualFold(e, "otlp") {
		return false // "none", or an exporter Hush does not ship
	}
	return endpoint(getenv) != ""
}

func endpoint(getenv func(string) string) string {
	return first(getenv, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
}

func first(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// otlpExporter returns an OTLP/gRPC exporter for the configured endpoint: a
// URL ("http://jaeger:4317": plaintext; "https://…": TLS) or host:port
// (TLS unless OTEL_EXPORTER_OTLP_INSECURE=true). The exporter connects
// lazily, so a collector that is down does not stop the service.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, string, error) {
	ep := endpoint(getenv)
	var opts []otlptracegrpc.Option
	if u, err := url.Parse(ep); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		opts = append(opts, otlptracegrpc.WithEndpoint(u.Host))
		if u.Scheme == "http" {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(ep))
		if insecure, _ := strconv.ParseBool(first(getenv, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")); insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
	}
	if h := parseKeyValues(first(getenv, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")); len(h) > 0 {
		m := make(map[string]string, len(h))
		for _, kv := range h {
			m[string(kv.Key)] = kv.Value.AsString()
		}
		opts = append(opts, otlptracegrpc.WithHeaders(m))
	}
	if ms, err := strconv.Atoi(first(getenv, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")); err == nil && ms > 0 {
		opts = append(opts, otlptracegrpc.WithTimeout(time.Duration(ms)*time.Millisecond))
	}
	if c := first(getenv, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); c == "gzip" {
		opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("otlp trace exporter %s: %w", ep, err)
	}
	return exp, ep, nil
}

// sampler follows OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; the
// default samples every root and follows the parent's choice otherwise, so
// that a producer's sampled trace is never cut at the gatekeeper.
func sampler(getenv func(string) string) sdktrace.Sampler {
	ratio := 1.0
	if f, err := strconv.ParseFloat(getenv("OTEL_TRACES_SAMPLER_ARG"), 64); err == nil && f >= 0 && f <= 1 {
		ratio = f
	}
	switch getenv("OTEL_TRACES_SAMPLER") {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// parseKeyValues reads "k1=v1,k2=v2" (values may be percent-encoded), as in
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS.
func parseKeyValues(s string) []attribute.KeyValue {
	var out []attribute.KeyValue
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		if dv, err := url.PathUnescape(strings.TrimSpace(v)); err == nil {
			v = dv
		}
		out = append(out, attribute.String(k, v))
	}
	return out
}
