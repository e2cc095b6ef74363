package prefsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const alice = "/v1/customers/alice"

func TestEveryEndpoint(t *testing.T) {
	e := newEnv(t)

	// Nothing recorded yet: empty preferences at version 0.
	r := e.must(200, "GET", alice+"/preferences", aliceToken, "")
	if r.hdr.Get("ETag") != `"0"` || r.prefs(t).GetCustomerId() != "alice" {
		t.Fatalf("fresh customer: ETag %s, %s", r.hdr.Get("ETag"), r.body)
	}

	r = e.must(200, "PUT", alice+"/preferences", aliceToken,
		`{"optedOutChannels":["sms"],"timeZone":"Europe/Paris","quietHours":{"start":"22:00","end":"07:30"},"maxFrequency":{"count":3,"window":"604800s"},"region":"FR"}`)
	if p := r.prefs(t); !slices.Equal(p.GetOptedOutChannels(), []string{"sms"}) || p.GetQuietHours().GetEnd() != "07:30" || r.hdr.Get("ETag") != `"1"` {
		t.Fatalf("PUT: ETag %s, %s", r.hdr.Get("ETag"), r.body)
	}

	r = e.must(200, "PATCH", alice+"/preferences", aliceToken, `{"optedOutTopics":["cooking"],"quietHours":{"end":"08:00"},"region":null}`)
	p := r.prefs(t)
	if !slices.Equal(p.GetOptedOutTopics(), []string{"cooking"}) || p.GetQuietHours().GetStart() != "22:00" || p.GetQuietHours().GetEnd() != "08:00" ||
		p.GetRegion() != "" || !slices.Equal(p.GetOptedOutChannels(), []string{"sms"}) {
		t.Fatalf("PATCH merged wrongly: %s", r.body)
	}

	until := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	r = e.must(200, "PUT", alice+"/mode", aliceToken, fmt.Sprintf(`{"mode":"do_nothing","until":%q}`, until.Format(time.RFC3339)))
	if p := r.prefs(t); p.GetMode() != hushv1.Mode_MODE_DO_NOTHING || !p.GetModeUntil().AsTime().Equal(until) {
		t.Fatalf("mode: %s", r.body)
	}

	r = e.must(200, "PUT", alice+"/care-hold", staffToken, `{"reason":"bereavement"}`)
	if h := r.prefs(t).GetCareHold(); h.GetReason() != "bereavement" || h.GetSetBy() != "agent-7" {
		t.Fatalf("care hold: %s", r.body)
	}
	r = e.must(200, "DELETE", alice+"/care-hold", staffToken, "")
	if r.prefs(t).GetCareHold() != nil {
		t.Fatalf("care hold not cleared: %s", r.body)
	}

	r = e.must(200, "POST", alice+"/consent/revoke", aliceToken, "")
	if !r.prefs(t).GetConsentRevoked() {
		t.Fatalf("consent: %s", r.body)
	}

	r = e.must(200, "POST", alice+"/suppressions", aliceToken, `{"destination":" Alice@Example.COM "}`)
	hash := r.json(t)["hash"].(string)
	if hash != policy.HashDestination("alice@example.com") {
		t.Fatalf("suppression hash %s", hash)
	}
	if p, _ := e.prefsInRedis("alice"); !slices.Contains(p.GetSuppressedDestinations(), hash) || strings.Contains(p.String(), "example") {
		t.Fatalf("Redis must hold the hash and never the address: %v", p)
	}
	r = e.must(200, "DELETE", alice+"/suppressions/"+hash, aliceToken, "")
	if len(r.prefs(t).GetSuppressedDestinations()) != 0 {
		t.Fatalf("suppression not removed: %s", r.body)
	}

	// Inbound contact: published on hush.inbound.<channel> for its consumer.
	r = e.must(202, "POST", alice+"/inbound", staffToken, `{"channel":"sms","thread_id":"ticket-42"}`)
	msg := lastMsg(t, e, bus.StreamInbound)
	ic := new(hushv1.InboundContact)
	if err := bus.Decode(msg.Data(), msg.Headers(), ic); err != nil {
		t.Fatal(err)
	}
	if msg.Subject() != "hush.inbound.sms" || ic.GetCustomerId() != "alice" || ic.GetThreadId() != "ticket-42" || ic.GetReceivedAt() == nil {
		t.Fatalf("inbound %s: %v", msg.Subject(), ic)
	}

	// Every change is in the consent history, in order, with who and via.
	_, v := e.prefsInRedis("alice")
	hist := e.history("alice")
	if uint64(len(hist)) != v || v != 8 {
		t.Fatalf("history holds %d changes, Redis is at version %d; want 8 and 8", len(hist), v)
	}
	for i, c := range hist {
		if c.GetVersion() != uint64(i+1) || c.GetVia() != "api" || c.GetChangedAt() == nil || c.GetNew().GetCustomerId() != "alice" {
			t.Errorf("history[%d] = %v", i, c)
		}
	}
	if hist[0].GetOld() != nil || hist[0].GetActor() != "alice" {
		t.Errorf("first change: old %v, actor %q; want none and alice", hist[0].GetOld(), hist[0].GetActor())
	}
	if hist[3].GetActor() != "agent-7" || hist[3].GetOld().GetCareHold() != nil || hist[3].GetNew().GetCareHold() == nil {
		t.Errorf("care hold change: %v", hist[3])
	}
}

func lastMsg(t *testing.T, e *env, kind string) jetstream.Msg {
	t.Helper()
	st, err := e.js.Stream(context.Background(), e.subjects.Stream(kind))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetLastMsgForSubject(context.Background(), ">")
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverLastPolicy})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if meta, _ := m.Metadata(); meta.Sequence.Stream != raw.Sequence {
		t.Fatalf("last message %d, read %d", raw.Sequence, meta.Sequence.Stream)
	}
	return m
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", alice + "/preferences", "", "", 401},
		{"unknown token", "GET", alice + "/preferences", "not-a-token-at-all-1234", "", 401},
		{"another customer's record", "GET", alice + "/preferences", bobToken, "", 403},
		{"another customer's change", "PATCH", alice + "/preferences", bobToken, `{}`, 403},
		{"customer sets a care hold", "PUT", alice + "/care-hold", aliceToken, `{"reason":"x"}`, 403},
		{"customer clears a care hold", "DELETE", alice + "/care-hold", aliceToken, "", 403},
		{"customer records an inbound contact", "POST", alice + "/inbound", aliceToken, `{"channel":"sms","thread_id":"t"}`, 403},
		{"staff changes preferences", "PUT", alice + "/preferences", staffToken, `{}`, 403},
		{"staff revokes consent", "POST", alice + "/consent/revoke", staffToken, "", 403},
		{"staff reads", "GET", alice + "/preferences", staffToken, "", 200},
		{"admin changes", "PATCH", alice + "/preferences", adminToken, `{"optedOutChannels":["voice"]}`, 200},
		{"admin sets a care hold", "PUT", alice + "/care-hold", adminToken, `{"reason":"hardship"}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.token, tt.body)
			if r.code != tt.want {
				t.Fatalf("%d, want %d: %s", r.code, tt.want, r.body)
			}
			if tt.want >= 400 && r.json(t)["error"] == "" {
				t.Errorf("no error message: %s", r.body)
			}
			if tt.want == 401 && r.hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if n := len(e.history("alice")); n != 2 {
		t.Errorf("history holds %d changes; want only the admin's 2", n)
	}
}

func TestValidationFailuresNameTheField(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, body, field string
	}{
		{"not JSON", "PUT", "/preferences", `{"optedOutChannels":`, "body"},
		{"unknown field", "PUT", "/preferences", `{"colour":"blue"}`, "colour"},
		{"wrong type", "PUT", "/preferences", `{"timeZone":5}`, "timeZone"},
		{"unknown channel", "PUT", "/preferences", `{"optedOutChannels":["email","fax"]}`, "opted_out_channels[1]"},
		{"unknown category", "PATCH", "/preferences", `{"optedOutCategories":["gossip"]}`, "opted_out_categories[0]"},
		{"bad topic", "PATCH", "/preferences", `{"optedOutTopics":["two words"]}`, "opted_out_topics[0]"},
		{"bad time zone", "PATCH", "/preferences", `{"timeZone":"Mars/Olympus"}`, "time_zone"},
		{"bad quiet hours", "PATCH", "/preferences", `{"quietHours":{"start":"25:00","end":"07:00"}}`, "quiet_hours.start"},
		{"zero frequency", "PATCH", "/preferences", `{"maxFrequency":{"count":0,"window":"3600s"}}`, "max_frequency.count"},
		{"address in the hash list", "PATCH", "/preferences", `{"suppressedDestinations":["alice@example.com"]}`, "suppressed_destinations[0]"},
		{"bad region", "PATCH", "/preferences", `{"region":"france"}`, "region"},
		{"care hold through PUT", "PUT", "/preferences", `{"careHold":{"reason":"x"}}`, "care_hold"},
		{"care hold through PATCH", "PATCH", "/preferences", `{"careHold":{"reason":"x"}}`, "care_hold"},
		{"other customer id", "PUT", "/preferences", `{"customerId":"bob"}`, "customer_id"},
		{"patch not an object", "PATCH", "/preferences", `[1]`, "body"},
		{"until without a mode", "PATCH", "/preferences", `{"modeUntil":"2099-01-01T00:00:00Z"}`, "mode_until"},
		{"unknown mode", "PUT", "/mode", `{"mode":"sleepy"}`, "mode"},
		{"mode until in the past", "PUT", "/mode", `{"mode":"do_nothing","until":"2001-01-01T00:00:00Z"}`, "until"},
		{"mode with a stray field", "PUT", "/mode", `{"mode":"normal","forever":true}`, "forever"},
		{"care hold without reason", "PUT", "/care-hold", `{"reason":" "}`, "reason"},
		{"inbound on an unknown channel", "POST", "/inbound", `{"channel":"fax","thread_id":"t"}`, "channel"},
		{"inbound without thread", "POST", "/inbound", `{"channel":"sms"}`, "thread_id"},
		{"empty destination", "POST", "/suppressions", `{"destination":"  "}`, "destination"},
		{"bad hash", "DELETE", "/suppressions/abc", ``, "hash"},
		{"bad If-Match", "PATCH", "/preferences", `{}`, "If-Match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.field == "If-Match" {
				hdr = []string{"If-Match", "yesterday"}
			}
			r := e.do(tt.method, alice+tt.path, adminToken, tt.body, hdr...)
			if r.code != 400 {
				t.Fatalf("%d, want 400: %s", r.code, r.body)
			}
			if got := r.json(t)["field"]; got != tt.field {
				t.Errorf("field %q, want %q (%s)", got, tt.field, r.body)
			}
		})
	}
	if _, v := e.prefsInRedis("alice"); v != 0 {
		t.Errorf("a refused request changed the preferences (version %d)", v)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t)
	big := `{"optedOutTopics":["` + strings.Repeat("a", 5000) + `"]}`
	if r := e.do("PUT", alice+"/preferences", aliceToken, big); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d, want 413: %s", r.code, r.body)
	}
}

func TestIfMatchRefusesAStaleVersion(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", alice+"/preferences", aliceToken, `{"optedOutChannels":["sms"]}`)
	tag := e.must(200, "GET", alice+"/preferences", aliceToken, "").hdr.Get("ETag")

	// Two editors read version 1; the first write wins, the second is told.
	r := e.must(200, "PATCH", alice+"/preferences", aliceToken, `{"optedOutChannels":["sms","voice"]}`, "If-Match", tag)
	if r.hdr.Get("ETag") != `"2"` {
		t.Fatalf("ETag after the first write %s", r.hdr.Get("ETag"))
	}
	e.must(412, "PATCH", alice+"/preferences", aliceToken, `{"optedOutChannels":[]}`, "If-Match", tag)
	if p, v := e.prefsInRedis("alice"); v != 2 || !slices.Equal(p.GetOptedOutChannels(), []string{"sms", "voice"}) {
		t.Fatalf("version %d, %v; the stale write must not land", v, p.GetOptedOutChannels())
	}
}

func TestConcurrentChangesLoseNoUpdate(t *testing.T) {
	e := newEnv(t)
	const writers = 24
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer adds its own destination; without an atomic
			// read-modify-write some would overwrite others.
			if r := e.do("POST", alice+"/suppressions", aliceToken, fmt.Sprintf(`{"destination":"user%d@example.com"}`, i)); r.code != 200 {
				t.Errorf("writer %d: %d %s", i, r.code, r.body)
			}
		}()
	}
	wg.Wait()
	p, v := e.prefsInRedis("alice")
	if len(p.GetSuppressedDestinations()) != writers || v != writers {
		t.Fatalf("%d destinations at version %d; want %d at %d", len(p.GetSuppressedDestinations()), v, writers, writers)
	}
	hist := e.history("alice")
	if len(hist) != writers {
		t.Fatalf("history holds %d changes, want %d", len(hist), writers)
	}
	for i, c := range hist {
		if c.GetVersion() != uint64(i+1) || len(c.GetNew().GetSuppressedDestinations()) != i+1 || len(c.GetOld().GetSuppressedDestinations()) != i {
			t.Fatalf("history[%d]: version %d, %d -> %d destinations", i, c.GetVersion(), len(c.GetOld().GetSuppressedDestinations()), len(c.GetNew().GetSuppressedDestinations()))
		}
	}
}

func TestUnchangedPreferencesWriteNothing(t *testing.T) {
	e := newEnv(t)
	e.must(200, "POST", alice+"/consent/revoke", aliceToken, "")
	r := e.must(200, "POST", alice+"/consent/revoke", aliceToken, "")
	if r.hdr.Get("ETag") != `"1"` || len(e.history("alice")) != 1 {
		t.Fatalf("a change that changes nothing must not bump the version or the history: ETag %s", r.hdr.Get("ETag"))
	}
}

func TestHistoryWaitsInRedisWhenNATSCannotTakeIt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Without the PREFS stream, JetStream refuses the history publish.
	if err := e.js.DeleteStream(ctx, e.subjects.Stream(bus.StreamPrefs)); err != nil {
		t.Fatal(err)
	}
	r := e.must(200, "PUT", alice+"/mode", aliceToken, `{"mode":"essential_only"}`)
	if r.prefs(t).GetMode() != hushv1.Mode_MODE_ESSENTIAL_ONLY {
		t.Fatalf("the change must be in force even when the history is late: %s", r.body)
	}
	pending, err := e.store.PendingChanges(ctx, "alice")
	if err != nil || len(pending) != 1 || pending[0].Version != 1 {
		t.Fatalf("outbox %v, %v; want version 1 pending", pending, err)
	}

	if err := e.subjects.EnsureStreams(ctx, e.js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	// The next change publishes the older entry first, then its own.
	e.must(200, "POST", alice+"/consent/revoke", aliceToken, "")
	hist := e.history("alice")
	if len(hist) != 2 || hist[0].GetVersion() != 1 || hist[1].GetVersion() != 2 {
		t.Fatalf("history %v; want versions 1 and 2 in order", hist)
	}
	if pending, _ := e.store.PendingChanges(ctx, "alice"); len(pending) != 0 {
		t.Fatalf("outbox not emptied: %v", pending)
	}
	if customers, _ := e.store.OutboxCustomers(ctx); len(customers) != 0 {
		t.Fatalf("outbox index not emptied: %v", customers)
	}
}

func TestOutboxSweeperPublishesLeftoverHistory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, e.subjects.Stream(bus.StreamPrefs)); err != nil {
		t.Fatal(err)
	}
	e.must(200, "PUT", "/v1/customers/bob/mode", bobToken, `{"mode":"do_nothing"}`)
	if err := e.subjects.EnsureStreams(ctx, e.js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	n, err := e.consent.FlushOutbox(ctx)
	if err != nil || n != 1 {
		t.Fatalf("FlushOutbox: %d customers, %v", n, err)
	}
	if hist := e.history("bob"); len(hist) != 1 || hist[0].GetNew().GetMode() != hushv1.Mode_MODE_DO_NOTHING {
		t.Fatalf("history %v", hist)
	}
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "GET", "/openapi.json", "", "")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	routes := []string{
		"GET /v1/customers/{customer}/preferences", "PUT /v1/customers/{customer}/preferences",
		"PATCH /v1/customers/{customer}/preferences", "PUT /v1/customers/{customer}/mode",
		"PUT /v1/customers/{customer}/care-hold", "DELETE /v1/customers/{customer}/care-hold",
		"POST /v1/customers/{customer}/consent/revoke", "POST /v1/customers/{customer}/inbound",
		"POST /v1/customers/{customer}/suppressions", "DELETE /v1/customers/{customer}/suppressions/{hash}",
		"GET /u/{token}", "POST /u/{token}", "GET /p/{token}", "POST /p/{token}", "POST /v1/customers/{customer}/links",
		"GET /openapi.json", "GET /healthz", "GET /readyz", "GET /metrics",
	}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("openapi.json does not document %s", route)
		}
	}
	if string(prefsapi.OpenAPI()) != r.body {
		t.Error("served document differs from the embedded one")
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	e := newEnv(t)
	e.must(200, "GET", "/healthz", "", "")
	e.must(200, "GET", "/readyz", "", "")
	e.must(200, "PUT", alice+"/mode", aliceToken, `{"mode":"essential_only"}`)
	e.do("GET", alice+"/preferences", "", "")
	m := e.must(200, "GET", "/metrics", "", "").body
	for _, want := range []string{
		`hush_prefs_http_requests_total{code="200",route="PUT /v1/customers/{customer}/mode"} 1`,
		`hush_prefs_http_requests_total{code="401",route="GET /v1/customers/{customer}/preferences"} 1`,
		`hush_prefs_changes_total{via="api"} 1`,
		`hush_prefs_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, "alice") {
		t.Error("metrics must not carry customer ids")
	}
}

func TestAPILatency(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", alice+"/mode", aliceToken, `{"mode":"essential_only"}`)
	const n = 200
	measure := func(method, body string) time.Duration {
		var ds []time.Duration
		for i := range n {
			b := body
			if strings.Contains(b, "%d") {
				b = fmt.Sprintf(body, i%2+1)
			}
			start := time.Now()
			e.must(200, method, alice+"/preferences", aliceToken, b)
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[n/2]
	}
	get := measure("GET", "")
	patch := measure("PATCH", `{"maxFrequency":{"count":%d,"window":"3600s"}}`)
	t.Logf("median over %d calls: GET %s, PATCH (Redis write + history publish) %s", n, get, patch)
	if get > 100*time.Millisecond || patch > 200*time.Millisecond {
		t.Errorf("too slow: GET %s, PATCH %s", get, patch)
	}
}
