package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/prefsapi"
)

// TestExplainApprovedAfterItsRedisRecordExpired deletes the Redis record of
// an approved intent (as its retention would): explain still finds the
// decision, from the dispatch stream, with the policy version the dispatch
// carries, with or without --customer.
func TestExplainApprovedAfterItsRedisRecordExpired(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	if err := c.redis.Client.HDel(context.Background(), c.store.DecisionsKey("busy"), "m-2").Err(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"explain", "m-2", "--json"}, {"explain", "m-2", "--customer", "busy", "--json"}} {
		out := c.run(args...)
		var got struct {
			Source   string `json:"source"`
			Decision struct {
				IntentID, CustomerID, Outcome, PolicyVersion, DecidedAt string
			} `json:"decision"`
			Windows []explain.Window `json:"windows"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		d := got.Decision
		if got.Source != explain.SourceDispatched || d.IntentID != "m-2" || d.CustomerID != "busy" || d.Outcome != "OUTCOME_APPROVED" ||
			d.PolicyVersion != "golden-1" || d.DecidedAt == "" || len(got.Windows) != 3 {
			t.Errorf("%v:\n%s", args, out)
		}
	}
}

// TestExplainOverHTTPEqualsHushctl asks the preference service's staff
// endpoint and hushctl explain --json about the same intents (a cap
// suppression, an opt-out, an approval, an approval whose Redis record is
// gone): the documents are equal. A customer's token is refused, an
// unknown intent is a 404.
func TestExplainOverHTTPEqualsHushctl(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	c.env["HUSH_POLICY"] = "" // both read the counters with the policy that decided
	if err := c.redis.Client.HDel(context.Background(), c.store.DecisionsKey("busy"), "m-1").Err(); err != nil {
		t.Fatal(err)
	}
	tokens, err := prefsapi.ParseTokens(strings.NewReader("agent-7 staff-token-0123456789 staff\nalice alice-token-0123456789 customer:alice\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.subjects()
	pol, err := policy.LoadOrDefault("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	api := prefsapi.New(prefsapi.Options{Consent: consent.New(c.store, c.js, consent.Options{Subjects: s}), JS: c.js, Subjects: s,
		Policy: pol, Tokens: tokens, Explainer: &explain.Explainer{JS: c.js, Store: c.store, Subjects: s,
			PolicyFor: func(ctx context.Context, version string) (*policy.Policy, string, error) {
				return explain.PublishedPolicy(ctx, c.js, s, version)
			}}})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	parse := func(s string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
		return v
	}
	for _, q := range []struct{ id, customer string }{{"m-5", ""}, {"s-1", "quiet-one"}, {"m-2", "busy"}, {"m-1", ""}, {"c-1", "quiet-one"}} {
		args, path := []string{"explain", q.id, "--json"}, "/v1/intents/"+q.id+"/explanation"
		if q.customer != "" {
			args, path = append(args, "--customer", q.customer), path+"?customer="+q.customer
		}
		code, body := get(path, "staff-token-0123456789")
		cli := c.run(args...)
		if code != 200 || !reflect.DeepEqual(parse(body), parse(cli)) {
			t.Errorf("%s: HTTP %d\n%s\nhushctl:\n%s", q.id, code, body, cli)
		}
	}
	if code, body := get("/v1/intents/m-5/explanation", "alice-token-0123456789"); code != 403 {
		t.Errorf("a customer's token: %d %s", code, body)
	}
	if code, body := get("/v1/intents/no-such-intent/explanation", "staff-token-0123456789"); code != 404 {
		t.Errorf("an unknown intent: %d %s", code, body)
	}
}
