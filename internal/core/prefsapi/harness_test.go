package prefsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
	"github.com/hush-oss/hush/pkg/links"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Bearer tokens of the test server.
const (
	adminToken = "admin-token-0123456789"
	staffToken = "staff-token-0123456789"
	aliceToken = "alice-token-0123456789" // customer:alice
	bobToken   = "bob-token-012345678901" // customer:bob
	// campaignsToken asks checks as the producer campaigns.
	campaignsToken = "campaigns-token-0123456789"
)

var linkKey = bytes.Repeat([]byte("k"), 32)

// publicURL is where customers would reach the test server.
const publicURL = "https://prefs.example.test"

// brand is whose preferences the test server's pages say these are.
const brand = "Acme Bank"

// env is a preferences server on real NATS and Redis.
type env struct {
	t        *testing.T
	nats     *testenv.NATS
	redis    *testenv.Redis
	js       jetstream.JetStream
	subjects bus.Subjects
	store    *store.Store
	consent  *consent.Service
	pol      *policy.Policy
	signer   *links.Signer
	srv      *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, nats: testenv.StartNATS(t), redis: testenv.StartRedis(t), subjects: bus.NewSubjects("")}
	_, e.js = e.nats.Connect(t)
	testenv.EnsureStreams(t, e.js, e.subjects)
	e.store = store.New(e.redis.Client, e.redis.Prefix)
	e.consent = consent.New(e.store, e.js, consent.Options{Subjects: e.subjects, RetryDelay: 10 * time.Millisecond})
	var err error
	e.pol, _ = testenv.DaytimeDefaultPolicy(t) // approvals must not turn into deferrals at night
	tokens, err := prefsapi.ParseTokens(strings.NewReader(
		"# subject token scopes\nops-admin " + adminToken + " admin\nagent-7 " + staffToken + " staff\n" +
			"alice " + aliceToken + " customer:alice; bob " + bobToken + " customer:bob\n" +
			"campaigns " + campaignsToken + " producer:campaigns\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e.signer, err = links.NewSigner(linkKey); err != nil {
		t.Fatal(err)
	}
	api := prefsapi.New(prefsapi.Options{Consent: e.consent, JS: e.js, Subjects: e.subjects, Policy: e.pol,
		Tokens: tokens, Links: e.signer, MaxBody: 4 << 10, PublicURL: publicURL, Brand: brand, Checker: e.store,
		CheckPolicy: (&prefsapi.InForce{JS: e.js, Subjects: e.subjects, Fallback: e.pol}).Policy})
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// reply is an HTTP answer, body read.
type reply struct {
	code int
	hdr  http.Header
	body string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", r.code, err, r.body)
	}
	return m
}

func (r reply) prefs(t *testing.T) *hushv1.Preferences {
	t.Helper()
	p := new(hushv1.Preferences)
	if err := protojson.Unmarshal([]byte(r.body), p); err != nil {
		t.Fatalf("answer %d is not preferences: %v\n%s", r.code, err, r.body)
	}
	return p
}

func (e *env) do(method, path, token, body string, hdr ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(b)}
}

func (e *env) must(want int, method, path, token, body string, hdr ...string) reply {
	e.t.Helper()
	r := e.do(method, path, token, body, hdr...)
	if r.code != want {
		e.t.Fatalf("%s %s: %d, want %d\n%s", method, path, r.code, want, r.body)
	}
	return r
}

// history returns the consent history of a customer.
func (e *env) history(customer string) []*hushv1.PreferenceChange {
	e.t.Helper()
	var out []*hushv1.PreferenceChange
	err := e.consent.History(context.Background(), consent.HistoryFilter{Customer: customer}, func(c *hushv1.PreferenceChange) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) prefsInRedis(customer string) (*hushv1.Preferences, uint64) {
	e.t.Helper()
	p, v, err := e.store.Preferences(context.Background(), customer)
	if err != nil {
		e.t.Fatal(err)
	}
	return p, v
}

// startGatekeeper runs a real gatekeeper on the same servers; it is
// drained when the test ends.
func (e *env) startGatekeeper() {
	e.t.Helper()
	_, js, err := connect.NATS(e.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		e.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Client.Options().Addr, PoolSize: 8})
	gk := gatekeeper.New(js, store.New(rdb, e.redis.Prefix), e.pol, gatekeeper.Options{Subjects: e.subjects,
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := e.js.Consumer(ctx, e.subjects.Stream(bus.StreamIntents), "gatekeeper"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatal("gatekeeper consumer not created within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("gatekeeper: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Error("gatekeeper did not drain within 30s")
		}
		rdb.Close()
	})
}

// decide publishes a marketing email intent for customer and waits for its
// recorded decision.
func (e *env) decide(id, customer, channel, category string) *hushv1.Decision {
	e.t.Helper()
	it := &hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: channel, Category: category, Topic: "news",
		Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.Now()}
	msg, err := bus.NewMsg(e.subjects.Intent("campaigns", channel), id, it)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.js.PublishMsg(ctx, msg); err != nil {
		e.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		d, err := e.store.Decision(ctx, customer, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if d != nil {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("intent %s not decided within 30s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDaytimeDefaultPolicyIgnoresTheClock(t *testing.T) {
	pol, _ := testenv.DaytimeDefaultPolicy(t)
	night := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC) // inside the fallback zone's quiet hours
	v := pol.Evaluate(policy.Input{Now: night, Intent: &hushv1.ContactIntent{Id: "n-1", CustomerId: "c-1",
		Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "campaigns"}}})
	if !v.Approved() || len(v.Shadow) != 1 || v.Shadow[0].Code != hushv1.ReasonCode_REASON_CODE_QUIET_HOURS {
		t.Fatalf("at 23:00 UTC: outcome %v, shadow %v; want approved with quiet hours as a shadow reason", v.Outcome, v.Shadow)
	}
}
