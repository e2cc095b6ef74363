package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/telemetry"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func scrapeMetrics(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// metricSample returns the value of the first sample line of metric whose labels
// contain every one of labels.
func metricSample(text, metric string, labels ...string) (string, bool) {
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			f := strings.Fields(line)
			return f[len(f)-1], true
		}
	}
	return "", false
}

func TestDecisionsAreCountedInPrometheusFormat(t *testing.T) {
	w := newTelWorld(t)
	if _, _, err := w.store.SetPreferences(context.Background(), "c-out", &hushv1.Preferences{CustomerId: "c-out", OptedOutChannels: []string{"sms"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, it := range []*hushv1.ContactIntent{
		telIntent("m-1", "c-in", "email", "marketing", telEmail),
		telIntent("m-2", "c-out", "sms", "marketing", telPhone),
	} {
		m := nats.NewMsg(w.subjects.Intent(it.GetSender().GetService(), it.GetChannel()))
		m.Data, _ = proto.Marshal(it)
		if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	// Undecodable input is dead-lettered.
	if _, err := w.js.Publish(context.Background(), "hush.intent.email", []byte{0xff, 0x01}); err != nil {
		t.Fatal(err)
	}
	w.waitMsgs(bus.StreamDeadLetter, 1)

	wants := []struct {
		metric string
		labels []string
		value  string
	}{
		{gatekeeper.MetricDecisions, []string{`outcome="approved"`, `reason="none"`, `channel="email"`, `category="marketing"`, `replayed="false"`}, "1"},
		{gatekeeper.MetricDecisions, []string{`outcome="suppressed"`, `reason="opted_out"`, `rule="opt_out.channel"`, `channel="sms"`}, "1"},
		{gatekeeper.MetricDecisionLatency + "_count", []string{`outcome="approved"`}, "1"},
		{gatekeeper.MetricDecisionDuration + "_count", []string{`outcome="approved"`}, "1"},
		{gatekeeper.MetricDeadLetters, []string{`stage="decode"`}, "1"},
		{gatekeeper.MetricInFlight, nil, "0"},
		// Acks reach the server a moment after the outcome is counted.
		{gatekeeper.MetricConsumerPending, []string{`stream="HUSH_INTENTS"`, `consumer="gatekeeper"`}, "0"},
		{gatekeeper.MetricConsumerAckPending, []string{`consumer="gatekeeper"`}, "0"},
	}
	var text string
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		text, missing = scrapeMetrics(t, w.tel.MetricsHandler()), nil
		for _, want := range wants {
			if got, ok := metricSample(text, want.metric, want.labels...); !ok || got != want.value {
				missing = append(missing, fmt.Sprintf("%s%v = %q (present %v), want %s", want.metric, want.labels, got, ok, want.value))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s:\n%s\n\n%s", strings.Join(missing, "\n"), text)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := metricSample(text, gatekeeper.MetricDecisionDuration+"_bucket", `le="0.005"`); !ok {
		t.Errorf("decision latency histogram has no 5ms bucket")
	}
	for _, leak := range []string{telEmail, telPhone} {
		if strings.Contains(text, leak) {
			t.Errorf("/metrics holds %q", leak)
		}
	}
}

func TestRedisErrorsAreCountedAndMissingKeysAreNot(t *testing.T) {
	w := newTelWorld(t)
	rdb := telRedis(t)
	rdb.AddHook(w.metrics.RedisHook())
	ctx := context.Background()
	rdb.Get(ctx, "no-such-key")         // redis.Nil: an answer
	rdb.Do(ctx, "NO-SUCH-COMMAND", "x") // an error reply
	rdb.Incr(ctx, "text-then-incr")     // fine
	rdb.Set(ctx, "text", "abc", 0)      // fine
	rdb.Incr(ctx, "text")               // WRONGTYPE-like error: not an integer
	text := scrapeMetrics(t, w.tel.MetricsHandler())
	if got, _ := metricSample(text, gatekeeper.MetricRedisErrors, `command="incr"`); got != "1" {
		t.Errorf("incr errors %q, want 1:\n%s", got, text)
	}
	if got, _ := metricSample(text, gatekeeper.MetricRedisErrors, `command="no-such-command"`); got != "1" {
		t.Errorf("unknown-command errors %q, want 1", got)
	}
	if _, ok := metricSample(text, gatekeeper.MetricRedisErrors, `command="get"`); ok {
		t.Errorf("a missing key was counted as an error")
	}
	// Every new connection announces the client with CLIENT SETINFO, which
	// Redis before 7.2 (and ACLs without it) refuse; go-redis ignores the
	// refusal, and so must the count.
	if got, ok := metricSample(text, gatekeeper.MetricRedisErrors, `command="client"`); ok {
		t.Errorf("CLIENT SETINFO counted as %s errors:\n%s", got, text)
	}
}

// newMetrics is the gatekeeper's metrics on a telemetry set-up of their own,
// with no gatekeeper around them: what a test records is all there is.
func newMetrics(t *testing.T) (*telemetry.Telemetry, *gatekeeper.Metrics) {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	m, err := gatekeeper.NewMetrics(tel.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	return tel, m
}

func TestRetriesAreToldApartByStage(t *testing.T) {
	tel, m := newMetrics(t)
	m.Retried(fmt.Errorf("%w hush.dispatch.email: %w", gatekeeper.ErrPublish, errors.New("nats: timeout")))
	m.Retried(fmt.Errorf("publish hush.dispatch.email: %w", nats.ErrConnectionClosed))
	m.Retried(fmt.Errorf("publish hush.dispatch.email: %w", jetstream.ErrTooManyStalledMsgs))
	m.Retried(errors.New("decide i-1: dial tcp 127.0.0.1:6379: connect: connection refused"))
	text := scrapeMetrics(t, tel.MetricsHandler())
	for _, want := range []struct{ metric, label, value string }{
		{gatekeeper.MetricRetries, `stage="publish"`, "3"},
		{gatekeeper.MetricRetries, `stage="decide"`, "1"},
		{gatekeeper.MetricNATSErrors, `kind="publish"`, "3"},
	} {
		if got, _ := metricSample(text, want.metric, want.label); got != want.value {
			t.Errorf("%s{%s} = %q, want %s", want.metric, want.label, got, want.value)
		}
	}
}

func TestDeferredBacklogCountsPendingSchedules(t *testing.T) {
	w := newTelWorld(t)
	ctx := context.Background()
	backlog := gatekeeper.DeferredBacklog(w.js, w.subjects.Stream(bus.StreamDeferred), w.subjects.All("deferred"))
	if n, err := backlog(ctx); err != nil || n != 0 {
		t.Fatalf("empty backlog: %d %v", n, err)
	}
	for _, subj := range []string{w.subjects.Deferred("c-1", "i-1"), w.subjects.Deferred("c-1", "i-2"), w.subjects.Deferred("c-2", "i-3"), w.subjects.Released("email")} {
		if _, err := w.js.Publish(ctx, subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.metrics.ObserveDeferredBacklog(backlog); err != nil {
		t.Fatal(err)
	}
	if got, _ := metricSample(scrapeMetrics(t, w.tel.MetricsHandler()), gatekeeper.MetricDeferredBacklog); got != "3" {
		t.Errorf("%s = %q, want 3 (released intents are not waiting)", gatekeeper.MetricDeferredBacklog, got)
	}
	deferred, err := w.js.Stream(ctx, w.subjects.Stream(bus.StreamDeferred))
	if err != nil {
		t.Fatal(err)
	}
	if err := deferred.Purge(ctx, jetstream.WithPurgeSubject(w.subjects.Deferred("c-1", "i-1"))); err != nil {
		t.Fatal(err)
	}
	if n, err := backlog(ctx); err != nil || n != 2 {
		t.Errorf("after a cancellation: %d %v, want 2", n, err)
	}
}

// TestMetricsAnOperatorCanAlertOn: series exist at zero before any traffic,
// the policy in force and reloads are reported, and every consumer's oldest
// unacknowledged message has an age.
func TestMetricsAnOperatorCanAlertOn(t *testing.T) {
	tel, m := newMetrics(t)
	pol, err := policy.Parse("test.yaml", []byte(telPolicy))
	if err != nil {
		t.Fatal(err)
	}
	m.Init(pol)
	version := "trace-test-7"
	if err := m.ObservePolicy(func() string { return version }); err != nil {
		t.Fatal(err)
	}
	m.PolicyReloaded(false)

	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	subjects := bus.NewSubjects("")
	testenv.EnsureStreams(t, js, subjects)
	ctx := context.Background()
	var refs []gatekeeper.ConsumerRef
	for _, c := range []struct{ stream, durable, filter string }{
		{subjects.Stream(bus.StreamIntents), "gatekeeper", subjects.All("intent")},
		{subjects.Stream(bus.StreamInbound), "gatekeeper-inbound", ""},
	} {
		if _, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{Durable: c.durable, FilterSubject: c.filter, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, gatekeeper.ConsumerRef{Stream: c.stream, Consumer: c.durable})
	}
	if err := m.ObserveConsumers(js, refs); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, subjects.Intent("campaigns", "email"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	text := scrapeMetrics(t, tel.MetricsHandler())
	for _, want := range []struct {
		metric string
		labels []string
		value  string
	}{
		{gatekeeper.MetricDeadLetters, []string{`stage="max_deliver"`}, "0"},
		{gatekeeper.MetricRetries, []string{`stage="publish"`}, "0"},
		{gatekeeper.MetricNATSErrors, []string{`kind="disconnect"`}, "0"},
		{gatekeeper.MetricPolicyReloads, []string{`result="applied"`}, "0"},
		{gatekeeper.MetricPolicyReloads, []string{`result="rejected"`}, "1"},
		{gatekeeper.MetricDecisions, []string{`outcome="deferred"`, `channel="sms"`, `category="marketing"`}, "0"},
		{gatekeeper.MetricDecisions, []string{`outcome="suppressed"`, `channel="in_app"`, `category="transactional"`}, "0"},
		{gatekeeper.MetricPolicyInfo, []string{`version="trace-test-7"`}, "1"},
		{gatekeeper.MetricConsumerOldestAge, []string{`consumer="gatekeeper-inbound"`}, "0"},
		{gatekeeper.MetricConsumerPending, []string{`consumer="gatekeeper-inbound"`}, "0"},
	} {
		if got, ok := metricSample(text, want.metric, want.labels...); !ok || got != want.value {
			t.Errorf("%s%v = %q (present %v), want %s", want.metric, want.labels, got, ok, want.value)
		}
	}
	age, ok := metricSample(text, gatekeeper.MetricConsumerOldestAge, `consumer="gatekeeper"`)
	if f, err := strconv.ParseFloat(age, 64); !ok || err != nil || f <= 0 || f > 60 {
		t.Errorf("%s{consumer=gatekeeper} = %q, want the pending intent's age", gatekeeper.MetricConsumerOldestAge, age)
	}
	version = "trace-test-8"
	if got, ok := metricSample(scrapeMetrics(t, tel.MetricsHandler()), gatekeeper.MetricPolicyInfo, `version="trace-test-8"`); !ok || got != "1" {
		t.Errorf("policy info after a reload: %q %v", got, ok)
	}
}
