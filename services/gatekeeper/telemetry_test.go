package main

import (
	"context"
	"fmt"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/platform/telemetry/otlptest"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// The personal data and secrets of this test: none may reach a log line or
// a span.
const (
	email         = "grace.hopper@example.com"
	phone         = "+15550109876"
	redisPassword = "r3dis-Pa55-for-hush"
	natsPassword  = "n4ts-Pa55-for-gk"
)

// deployedServers starts NATS and Redis with the configuration in deploy/:
// NATS accounts and permissions, Redis ACL users.
func deployedServers(t *testing.T) (natsURL, redisAddr string) {
	t.Helper()
	for _, u := range []string{"GATEKEEPER", "PRODUCER", "PREFS", "SINK", "ADMIN",
		"INBOUND_EMAIL", "INBOUND_SMS", "INBOUND_PUSH", "INBOUND_VOICE", "INBOUND_WHATSAPP", "INBOUND_IN_APP"} {
		t.Setenv("HUSH_NATS_"+u+"_PASSWORD", strings.ToLower(u)+"-pw")
	}
	t.Setenv("HUSH_NATS_GATEKEEPER_PASSWORD", natsPassword)
	ns, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: t.TempDir(), ConfigFile: "../../deploy/nats/nats.conf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	dir := t.TempDir()
	acl := filepath.Join(dir, "users.acl")
	cmd := exec.Command("sh", "../../deploy/redis/render-acl.sh", "../../deploy/redis/users.acl.template", acl)
	cmd.Env = append(os.Environ(), "HUSH_REDIS_PASSWORD="+redisPassword, "HUSH_REDIS_ADMIN_PASSWORD=admin-pw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render-acl.sh: %v %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := localsrv.StartRedis(ctx, localsrv.RedisOptions{Dir: dir, Args: []string{"--aclfile", acl}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	return ns.ClientURL(), fmt.Sprintf("127.0.0.1:%d", r.Port)
}

func TestGatekeeperBinaryTracesMetricsAndLogsWithoutPersonalData(t *testing.T) {
	natsURL, redisAddr := deployedServers(t)
	rcv := otlptest.Start(t)
	port, err := localsrv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", port)
	_, daytime := testenv.DaytimeDefaultPolicy(t) // the approvals below must not be deferred at night
	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyPath, daytime, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HUSH_POLICY":                 policyPath,
		"HUSH_NATS_URL":               natsURL,
		"HUSH_NATS_USER":              "gatekeeper",
		"HUSH_NATS_PASSWORD":          natsPassword,
		"HUSH_REDIS_URL":              "redis://hush:" + redisPassword + "@" + redisAddr + "/0",
		"HUSH_HTTP_ADDR":              httpAddr,
		"HUSH_LOG_LEVEL":              "debug",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.Endpoint,
	}
	var logs testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &logs) }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get("/readyz"); code == 200 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("gatekeeper stopped: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			code, body := get("/readyz")
			t.Fatalf("/readyz %d %s after 30s\n%s", code, body, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A customer opted out of SMS, set through the store as the hush user.
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, Username: "hush", Password: redisPassword})
	defer rdb.Close()
	if _, _, err := store.New(rdb, "hush").SetPreferences(ctx, "c-sms", &hushv1.Preferences{CustomerId: "c-sms", OptedOutChannels: []string{"sms"}}, nil); err != nil {
		t.Fatal(err)
	}

	// The demo producer, with its credential: it publishes under its own
	// name (hush.intent.demo.<channel>) only.
	nc, err := nats.Connect(natsURL, nats.UserInfo("producer", "producer-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	publish := func(subject string, data []byte, hdr nats.Header) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = data
		for k, v := range hdr {
			m.Header[k] = v
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
	}
	intent := func(id, customer, channel, dest string) []byte {
		b, _ := proto.Marshal(&hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: channel, Category: "marketing",
			Topic: "news", Destination: dest, Sender: &hushv1.Sender{Service: "demo"}, CreatedAt: timestamppb.Now()})
		return b
	}
	publish("hush.intent.demo.email", intent("e-1", "c-email", "email", email), nil)
	publish("hush.intent.demo.sms", intent("s-1", "c-sms", "sms", phone), nil)
	// Bad input that holds the destinations too: a JSON typo and a value of
	// the wrong type, both dead-lettered with their errors logged.
	json := nats.Header{"Content-Type": {"application/json"}}
	publish("hush.intent.demo.email", []byte(`{"id":"bad-1","customerId":"c-x","channel":"email","destination":"`+email+`",}`), json)
	publish("hush.intent.demo.sms", []byte(`{"id":"bad-2","customerId":"c-x","channel":"sms","destination":`+strings.TrimPrefix(phone, "+")+`}`), json)
	publish("hush.intent.demo.sms", []byte(`{"id":"bad-3","customerId":"c-x","channel":"sms","category":"`+phone+`","sender":{"service":"s"}}`), json)

	var text string
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, text = get("/metrics")
		if strings.Contains(text, `hush_decisions_total{category="marketing",channel="email",outcome="approved"`) &&
			strings.Contains(text, `outcome="suppressed",reason="opted_out"`) &&
			strings.Count(text, "\nhush_dead_letters_total{") >= 1 && deadLettered(text) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outcomes not counted within 30s:\n%s\n%s", grep(text, "hush_"), logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"hush_decision_duration_seconds_bucket", "hush_consumer_pending{", "hush_consumer_ack_pending{",
		"hush_intents_in_flight", "hush_publish_pending", "hush_deferred_backlog 0", `service_name="hush-gatekeeper"`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Every consumer's oldest pending age, the policy in force, and no
	// handshake counted as a Redis error.
	if n := strings.Count(text, "\nhush_consumer_oldest_pending_age_seconds{"); n != 4 {
		t.Errorf("%d consumers report their oldest pending age, want 4 (intents, released, advisories, inbound):\n%s", n, grep(text, "oldest_pending"))
	}
	if !strings.Contains(text, `hush_policy_info{`) || !strings.Contains(text, `hush_policy_reloads_total{`) {
		t.Errorf("/metrics lacks the policy in force or its reloads:\n%s", grep(text, "hush_policy"))
	}
	if strings.Contains(text, `hush_redis_errors_total{command="client"`) {
		t.Errorf("the client's handshake counted as Redis errors:\n%s", grep(text, "redis_errors"))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gatekeeper: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gatekeeper did not stop within 30s")
	}

	// Spans reached the collector over OTLP/gRPC before the binary exited.
	spans := rcv.Spans()
	names := map[string]int{}
	for _, s := range spans {
		names[s.GetName()]++
		if s.Service != "hush-gatekeeper" {
			t.Errorf("span %q from %q", s.GetName(), s.Service)
		}
		for _, a := range s.GetAttributes() {
			v := a.GetValue().String()
			for _, leak := range []string{email, phone, strings.TrimPrefix(phone, "+"), redisPassword} {
				if strings.Contains(v, leak) {
					t.Errorf("span %q attribute %s holds %q", s.GetName(), a.GetKey(), leak)
				}
			}
		}
	}
	for _, want := range []string{"hush.intent process", "hush.decide", "hush.dispatch.email publish", "hush.suppressed.sms publish", store.SpanDecide} {
		if names[want] == 0 {
			t.Errorf("no %q span received; got %v", want, names)
		}
	}
	// With the default --redis-autopipeline the decision's Redis work is
	// still a child of hush.decide, in its trace; no span is a root but the
	// intents' own.
	decides := map[string]string{} // span id -> trace id
	for _, s := range spans {
		if s.GetName() == "hush.decide" {
			decides[string(s.GetSpanId())] = string(s.GetTraceId())
		}
	}
	for _, s := range spans {
		if s.GetName() == store.SpanDecide {
			if tid, ok := decides[string(s.GetParentSpanId())]; !ok || tid != string(s.GetTraceId()) {
				t.Errorf("%s span is not a child of a hush.decide span of its trace", store.SpanDecide)
			}
		}
		if len(s.GetParentSpanId()) == 0 && s.GetName() != "hush.intent process" && s.GetName() != "hush.inbound process" {
			t.Errorf("root span %q: only intents start traces", s.GetName())
		}
	}

	out := logs.String()
	for _, leak := range []string{email, phone, strings.TrimPrefix(phone, "+"), redisPassword, natsPassword} {
		if strings.Contains(out, leak) {
			t.Errorf("the logs hold %q:\n%s", leak, grep(out, leak))
		}
	}
	if !strings.Contains(out, `"msg":"intent suppressed"`) || !strings.Contains(out, `"reason":"opted_out"`) {
		t.Errorf("no suppression line:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"msg":"intent dead-lettered"`) && (!strings.Contains(line, `"trace_id":"`) || !strings.Contains(line, `"span_id":"`)) {
			t.Errorf("dead-letter line without trace_id and span_id: %s", line)
		}
	}
	if !strings.Contains(out, "redis://hush:***@") {
		t.Errorf("the start-up line should show the Redis URL masked:\n%s", grep(out, "starting"))
	}
}

func deadLettered(metrics string) int {
	n := 0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "hush_dead_letters_total{") {
			var v int
			fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v)
			n += v
		}
	}
	return n
}

func grep(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
