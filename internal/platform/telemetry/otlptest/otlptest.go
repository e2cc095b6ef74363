// Package otlptest runs a real OTLP/gRPC trace receiver in the test's
// process, so that tests can check what a service sends over the wire.
package otlptest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Receiver is an OTLP trace service on 127.0.0.1 that keeps what it gets.
type Receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	// Endpoint is the URL to give OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string

	mu   sync.Mutex
	got  []*tracepb.ResourceSpans
	more chan struct{}
}

// Start starts a receiver, stopped when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlp receiver: %v", err)
	}
	r := &Receiver{Endpoint: "http://" + ln.Addr().String(), more: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, r)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return r
}

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	r.got = append(r.got, req.GetResourceSpans()...)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// Span is one received span with its service's name.
type Span struct {
	Service string
	*tracepb.Span
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Span
	for _, rs := range r.got {
		svc := StringAttr(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out = append(out, Span{svc, s})
			}
		}
	}
	return out
}

// WaitFor waits up to timeout until ok accepts the spans received.
func (r *Receiver) WaitFor(timeout time.Duration, ok func([]Span) bool) ([]Span, bool) {
	deadline := time.After(timeout)
	for {
		spans := r.Spans()
		if ok(spans) {
			return spans, true
		}
		select {
		case <-r.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return r.Spans(), false
		}
	}
}

// StringAttr returns the string value of key among attrs, or "".
func StringAttr(attrs []*commonpb.KeyValue, key string) string {
	for _, a := range attrs {
		if a.GetKey() == key {
			return a.GetValue().GetStringValue()
		}
	}
	return ""
}
