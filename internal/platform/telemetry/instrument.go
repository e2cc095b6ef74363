package telemetry

import (
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentRedis makes every Redis call a CLIENT span under the caller's
// span (a decision's script call under hush.decide) and counts failed
// commands. Statements are left out of the spans: their arguments name
// customers. Instrument the client before it serves the gatekeeper.
func InstrumentRedis(rdb redis.UniversalClient, tp trace.TracerProvider, m *Metrics) error {
	// Pool dials are left out too: with no parent they would each start
	// a trace of their own and bury the intents' traces in Jaeger.
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false), redisotel.WithDialFilter(true)); err != nil {
		return fmt.Errorf("redis tracing: %w", err)
	}
	rdb.AddHook(m.RedisHook())
	return nil
}

// WatchNATS logs and counts a connection's asynchronous errors (permission
// violations, slow consumers) and its disconnects.
func (m *Metrics) WatchNATS(nc *nats.Conn, log *slog.Logger) {
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		m.NATSError("async")
		log.Warn("nats", "err", err)
	})
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		if err != nil {
			m.NATSError("disconnect")
			log.Warn("nats disconnected", "err", err)
		}
	})
}
