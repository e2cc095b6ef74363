package telemetry

import (
	"fmt"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentRedis makes every Redis call a CLIENT span under the caller's
// span (a decision's script call under hush.decide) and then adds hooks,
// such as one counting failed commands. Statements are left out of the
// spans: their arguments name customers. Instrument the client before it
// serves the gatekeeper.
func InstrumentRedis(rdb redis.UniversalClient, tp trace.TracerProvider, hooks ...redis.Hook) error {
	// Pool dials are left out too: with no parent they would each start
	// a trace of their own and bury the intents' traces in Jaeger.
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false), redisotel.WithDialFilter(true)); err != nil {
		return fmt.Errorf("redis tracing: %w", err)
	}
	for _, h := range hooks {
		rdb.AddHook(h)
	}
	return nil
}
