package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Check is one readiness condition: nil when met.
type Check struct {
	Name string
	Func func(context.Context) error
}

// NATSConnected is ready while the connection is up (not reconnecting).
func NATSConnected(nc *nats.Conn) Check {
	return Check{Name: "nats", Func: func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats %s", strings.ToLower(nc.Status().String()))
		}
		return nil
	}}
}

// RedisPing is ready while Redis answers PING.
func RedisPing(rdb redis.UniversalClient) Check {
	return Check{Name: "redis", Func: func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis ping: %w", err)
		}
		return nil
	}}
}

// StreamsPresent is ready while every named stream exists.
func StreamsPresent(js jetstream.JetStream, streams ...string) Check {
	return Check{Name: "streams", Func: func(ctx context.Context) error {
		var missing []string
		for _, s := range streams {
			if _, err := js.Stream(ctx, s); err != nil {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("streams missing or unreachable: %s", strings.Join(missing, ", "))
		}
		return nil
	}}
}

// Health answers /healthz (the process is alive and serving) and /readyz
// (every check passes, and the service is not draining).
type Health struct {
	checks   []Check
	draining atomic.Bool
	timeout  time.Duration
}

// NewHealth returns a Health that runs checks on every /readyz request.
func NewHealth(checks ...Check) *Health {
	return &Health{checks: checks, timeout: 2 * time.Second}
}

// Drain makes /readyz fail from now on: the service is shutting down.
func (h *Health) Drain() { h.draining.Store(true) }

// Ready runs every check concurrently and returns each failure by name.
func (h *Health) Ready(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	failed := map[string]string{}
	if h.draining.Load() {
		failed["draining"] = "shutting down"
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range h.checks {
		wg.Go(func() {
			if err := c.Func(ctx); err != nil {
				mu.Lock()
				failed[c.Name] = err.Error()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// Routes registers /healthz, /readyz and /metrics on mux.
func (t *Telemetry) Routes(mux *http.ServeMux, h *Health) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		failed := h.Ready(r.Context())
		if len(failed) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	mux.Handle("GET /metrics", t.MetricsHandler())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Serve runs an HTTP server on ln until ctx is done, then shuts it down,
// letting requests in progress finish for up to five seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http %s: %w", ln.Addr(), err)
	}
	return nil
}

// Probe asks a health endpoint ("http://127.0.0.1:8080/healthz") and
// returns nil on 200 OK; container health checks use it in images without
// a shell or curl.
func Probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
