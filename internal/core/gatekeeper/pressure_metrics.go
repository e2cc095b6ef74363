package gatekeeper

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// MetricSenderAttempts counts terminal outcomes by the sending service,
// outcome, reason and whether the contact was unsolicited: who pushes
// hardest. Agents are never a label (there are as many as staff, and they
// come and go): the over-servicing report names them.
const MetricSenderAttempts = "hush_sender_attempts_total"

// MaxServiceLabels bounds the service label: services beyond the first
// this many seen by a replica are counted as "other". Producers are named
// by NATS credentials, so a deployment has a handful; the bound only keeps
// a misconfiguration from flooding Prometheus.
const MaxServiceLabels = 64

// pressureMetrics is the instrument behind MetricSenderAttempts.
type pressureMetrics struct {
	attempts metric.Int64Counter
	mu       sync.Mutex
	services map[string]bool
}

func newPressureMetrics(meter metric.Meter) (*pressureMetrics, error) {
	c, err := meter.Int64Counter("hush.sender.attempts", metric.WithUnit("{intent}"),
		metric.WithDescription("Terminal outcomes by sending service, outcome, reason and unsolicited"))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &pressureMetrics{attempts: c, services: map[string]bool{}}, nil
}

// service is the label for a sending service, within MaxServiceLabels.
func (p *pressureMetrics) service(s string) string {
	s = metricLabel(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.services[s] {
		return s
	}
	if len(p.services) >= MaxServiceLabels {
		return "other"
	}
	p.services[s] = true
	return s
}

var _ PressureObserver = (*Metrics)(nil)

// Pressed counts a terminal outcome under its sending service.
func (m *Metrics) Pressed(service string, d *hushv1.Decision, unsolicited bool) {
	reason := "none"
	if len(d.GetReasons()) > 0 {
		reason = policy.ShortCode(d.GetReasons()[0].GetCode())
	}
	m.pressure.attempts.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("service", m.pressure.service(service)),
		attribute.String("outcome", policy.ShortOutcome(d.GetOutcome())),
		attribute.String("reason", reason),
		attribute.Bool("unsolicited", unsolicited)))
}
