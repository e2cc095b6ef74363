package prefsapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-oss/hush/internal/core/consent"
)

type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	changes        *prometheus.CounterVec
	historyPending prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_prefs_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hush_prefs_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hush_prefs_changes_total", Help: "Preference changes written, by the way they were made.",
		}, []string{"via"}),
		historyPending: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hush_prefs_history_deferred_total", Help: "Changes whose consent-history entry was left to the outbox (NATS did not acknowledge in time).",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.changes, m.historyPending)
	// Every way a change is made is a series from the start, at zero, so
	// that rate() and alerts on it work before the first change.
	for _, via := range []string{consent.ViaAPI, consent.ViaPage, consent.ViaOneClick} {
		m.changes.WithLabelValues(via)
	}
	return m
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument counts requests by route pattern (never by path: paths carry
// customer ids and link tokens).
func (m *metrics) instrument(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
