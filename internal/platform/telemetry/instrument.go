package telemetry

import (
	"fmt"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// InstrumentRedis makes every Redis call a CLIENT span under the caller's
// span (a decision's script call under hush.decide) and then adds hooks,
// such as one counting failed commands. Statements are left out of the
// spans: their arguments name customers. Instrument the client before it
// serves the gatekeeper.
func InstrumentRedis(rdb redis.UniversalClient, tp trace.TracerProvider, hooks ...redis.Hook) error {
	// Pool dials are left out too: with no parent they would each start
	// a trace of their own and bury the intents' traces in Jaeger. With
	// tracing off there is no hook at all: the hook formats every
	// pipeline's commands whether it records them or not (a few percent of
	// the gatekeeper's CPU, docs/performance.md).
	if _, off := tp.(noop.TracerProvider); !off {
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false), redisotel.WithDialFilter(true)); err != nil {
			return fmt.Errorf("redis tracing: %w", err)
		}
	}
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	return nil
}
