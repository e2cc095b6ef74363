package telemetry

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// InstrumentRedis makes every Redis call made inside a span a CLIENT span
// under it and then adds hooks, such as one counting failed commands.
// Statements are left out of the spans: their arguments name customers.
// Instrument the client before it serves the gatekeeper.
//
// A call with no span in its context records none: a readiness probe's
// PING, a pool dial, and the batches an auto-pipelining client sends on a
// background context would each start a trace of their own and bury the
// intents' traces in Jaeger. (The store spans a decision's script call
// itself, on the caller's context, so that it stays under hush.decide
// whatever the pipelining.)
func InstrumentRedis(rdb redis.UniversalClient, tp trace.TracerProvider, hooks ...redis.Hook) error {
	// With tracing off there is no hook at all: the hook formats every
	// pipeline's commands whether it records them or not (a few percent of
	// the gatekeeper's CPU, docs/performance.md).
	if _, off := tp.(noop.TracerProvider); !off {
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(childrenOnly{tp: tp}), redisotel.WithDBStatement(false), redisotel.WithDialFilter(true)); err != nil {
			return fmt.Errorf("redis tracing: %w", err)
		}
	}
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	return nil
}

// childrenOnly is a TracerProvider whose tracers start spans only under a
// parent span; without one they return the context's (non-recording) span.
type childrenOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (c childrenOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childrenOnlyTracer{t: c.tp.Tracer(name, opts...)}
}

type childrenOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (c childrenOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.t.Start(ctx, name, opts...)
}
