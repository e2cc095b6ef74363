package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/telemetry"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// exportedMetrics records something on every instrument the gatekeeper
// registers and returns the metric names /metrics then shows.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "hush-gatekeeper"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	m, err := gatekeeper.NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	m.Decided(&hushv1.Decision{Outcome: hushv1.Outcome_OUTCOME_APPROVED, Channel: "email", Category: "marketing",
		ShadowReasons: []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Rule: "hourly"}}}, false, 3*time.Millisecond, 40*time.Millisecond)
	m.Init(nil)
	m.PolicyReloaded(true)
	if err := m.ObservePolicy(func() string { return "test-1" }); err != nil {
		t.Fatal(err)
	}
	m.DeadLettered("decode")
	m.Retried(gatekeeper.ErrPublish)
	m.Retried(errors.New("redis down"))
	m.InFlight(1)
	m.NATSError("async")
	m.Pressed("support", &hushv1.Decision{Outcome: hushv1.Outcome_OUTCOME_APPROVED}, true)

	nats := testenv.StartNATS(t)
	_, js := nats.Connect(t)
	subjects := bus.NewSubjects("")
	testenv.EnsureStreams(t, js, subjects)
	if _, err := js.CreateOrUpdateConsumer(ctx, subjects.Stream(bus.StreamIntents), jetstream.ConsumerConfig{Durable: "gatekeeper", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveConsumer(js, subjects.Stream(bus.StreamIntents), "gatekeeper"); err != nil {
		t.Fatal(err)
	}
	if err := m.ObservePublishPending(js); err != nil {
		t.Fatal(err)
	}
	if err := m.ObserveDeferredBacklog(func(context.Context) (int64, error) { return 3, nil }); err != nil {
		t.Fatal(err)
	}
	r := testenv.StartRedis(t)
	r.Client.AddHook(m.RedisHook())
	r.Client.Do(ctx, "NO-SUCH-COMMAND")

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	names := map[string]bool{}
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(name)[0]] = true
		}
	}
	// The preferences service's own /metrics, after one request.
	api := prefsapi.New(prefsapi.Options{Registry: prometheus.NewRegistry()})
	api.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	rec = httptest.NewRecorder()
	api.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok && strings.HasPrefix(name, "hush_prefs_") {
			names[strings.Fields(name)[0]] = true
		}
	}
	return names
}

func TestGrafanaDashboardQueriesOnlyMetricsHushExports(t *testing.T) {
	raw, err := os.ReadFile("grafana/hush.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		UID    string
		Panels []panel
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana/hush.json is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard %q (%q) with %d panels", dash.Title, dash.UID, len(dash.Panels))
	}

	names := exportedMetrics(t)
	for _, want := range []string{gatekeeper.MetricDecisions, gatekeeper.MetricShadowSuppressions, gatekeeper.MetricDecisionDuration,
		gatekeeper.MetricDeadLetters, gatekeeper.MetricRetries, gatekeeper.MetricRedisErrors, gatekeeper.MetricNATSErrors,
		gatekeeper.MetricInFlight, gatekeeper.MetricPublishPending, gatekeeper.MetricConsumerPending,
		gatekeeper.MetricConsumerAckPending, gatekeeper.MetricConsumerRedelivered, gatekeeper.MetricDeferredBacklog,
		gatekeeper.MetricDecisionLatency, gatekeeper.MetricConsumerOldestAge, gatekeeper.MetricPolicyInfo, gatekeeper.MetricPolicyReloads,
		gatekeeper.MetricSenderAttempts,
		"hush_prefs_http_requests_total", "hush_prefs_http_request_duration_seconds", "hush_prefs_changes_total", "hush_prefs_history_deferred_total"} {
		if !names[want] {
			t.Errorf("internal/core/gatekeeper names %s, but /metrics has no such metric", want)
		}
	}

	metricName := regexp.MustCompile(`\bhush_[a-z_]+\b`)
	ids := map[int]bool{}
	queried := map[string]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %d: title %q, size %dx%d", p.ID, p.Title, p.GridPos.W, p.GridPos.H)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q datasource %q: want the ${datasource} variable", p.Title, p.Datasource.UID)
			}
			for _, tg := range p.Targets {
				// A deferral is not a suppression, and its release is
				// counted under its final outcome.
				if strings.Contains(tg.Expr, `outcome!="approved"`) {
					t.Errorf("panel %q counts deferrals as suppressions: %s", p.Title, tg.Expr)
				}
				found := metricName.FindAllString(tg.Expr, -1)
				if len(found) == 0 {
					t.Errorf("panel %q: %q names no Hush metric", p.Title, tg.Expr)
				}
				for _, n := range found {
					base := n
					for _, suffix := range []string{"_bucket", "_count", "_sum"} {
						if b, ok := strings.CutSuffix(n, suffix); ok && names[b] {
							base = b
						}
					}
					if !names[base] {
						t.Errorf("panel %q queries %s, which Hush does not export", p.Title, n)
					}
					queried[base] = true
				}
			}
		}
	}
	walk(dash.Panels)
	for n := range names {
		if strings.HasPrefix(n, "hush_") && !queried[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

type panel struct {
	ID         int
	Type       string
	Title      string
	Datasource struct{ UID string }
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct{ Expr string }
	Panels     []panel
}
