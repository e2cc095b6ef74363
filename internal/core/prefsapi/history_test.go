package prefsapi_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/pressure"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// historyWorkload decides a known set of intents for a customer through a
// real gatekeeper and waits until all are in the contact history: the
// customer asked for one contact a week and switched off text messages.
func (e *env) historyWorkload(customer string) {
	e.t.Helper()
	p := &hushv1.Preferences{CustomerId: customer, OptedOutChannels: []string{"sms"},
		MaxFrequency: &hushv1.MaxFrequency{Count: 1, Window: durationpb.New(7 * 24 * time.Hour)}}
	if _, _, err := e.store.SetPreferences(context.Background(), customer, p, nil); err != nil {
		e.t.Fatal(err)
	}
	e.startGatekeeper()
	type send struct{ id, producer, agent, channel, category, purpose string }
	script := []send{
		{"m-1", "campaigns", "", "email", "marketing", ""}, // sent: the week's one
		{"m-2", "campaigns", "", "email", "marketing", ""}, // the next three: one a week
		{"m-3", "campaigns", "", "email", "marketing", ""},
		{"m-4", "campaigns", "", "email", "marketing", ""},
		{"s-1", "campaigns", "", "sms", "marketing", ""}, // text messages switched off
		{"s-2", "campaigns", "", "sms", "marketing", ""},
		{"t-1", "demo", "", "email", "transactional", ""},     // a receipt: sent
		{"a-1", "support", "agent-9", "email", "support", ""}, // an agent, unasked, without a purpose
	}
	for i, s := range script {
		it := &hushv1.ContactIntent{Id: customer + "-" + s.id, CustomerId: customer, Channel: s.channel, Category: s.category,
			Topic: "t" + s.id, Sender: &hushv1.Sender{Service: s.producer, AgentId: s.agent}, Purpose: s.purpose,
			CreatedAt: timestamppb.Now(), Payload: []byte("secret body " + s.id), Destination: "lena@example.com"}
		if s.agent != "" {
			it.Initiator = "agent"
		}
		msg, err := bus.NewMsg(e.subjects.Intent(s.producer, s.channel), it.Id, it)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.js.PublishMsg(context.Background(), msg); err != nil {
			e.t.Fatal(err)
		}
		e.waitHistory(i + 1) // in order: the week's one is m-1
	}
}

// waitHistory waits until the contact history holds n records.
func (e *env) waitHistory(n int) {
	e.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := e.js.Stream(context.Background(), e.subjects.Stream(bus.StreamOutcomes))
		if err != nil {
			e.t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if info.State.Msgs >= uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("history holds %d records, want %d", info.State.Msgs, n)
		}
	}
}

// The sentences a customer reads after historyWorkload.
var (
	wantStopped = []string{
		"3 marketing emails were not sent because you asked for one a week.",
		"2 marketing text messages were not sent because you switched off text messages.",
		"One support email was not sent because a member of staff tried to contact you without saying why.",
	}
	wantSent = []string{
		"One transactional email was sent.",
		"One marketing email was sent.",
	}
)

func TestContactHistoryInPlainWords(t *testing.T) {
	e := newEnv(t)
	e.historyWorkload("alice")
	var h struct {
		Sent, Stopped []string
		Attempts      []map[string]any
	}
	r := e.must(200, "GET", "/v1/customers/alice/history", aliceToken, "")
	if err := json.Unmarshal([]byte(r.body), &h); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Stopped, wantStopped) || !slices.Equal(h.Sent, wantSent) {
		t.Errorf("stopped %q\nsent %q\nwant %q\nand %q", h.Stopped, h.Sent, wantStopped, wantSent)
	}
	if len(h.Attempts) != 8 {
		t.Fatalf("%d attempts, want 8", len(h.Attempts))
	}
	newest := h.Attempts[0]
	if newest["service"] != "support" || newest["channel"] != "email" || newest["category"] != "support" || newest["sent"] != false ||
		newest["reason"] != "unsolicited_no_purpose" || newest["day"] != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("newest attempt %v", newest)
	}
	for _, leak := range []string{"secret body", "lena@example.com", "agent-9"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("the history shows %q", leak)
		}
	}
	e.must(403, "GET", "/v1/customers/alice/history", bobToken, "")
	e.must(200, "GET", "/v1/customers/alice/history", staffToken, "")

	// The page says the same.
	page := e.must(200, "GET", strings.TrimPrefix(e.signer.PreferencesURL(e.srv.URL, "alice", time.Hour, time.Now()), e.srv.URL), "", "")
	body := html.UnescapeString(page.body)
	for _, s := range append(slices.Clone(wantStopped), wantSent...) {
		if !strings.Contains(body, s) {
			t.Errorf("the page does not say %q", s)
		}
	}
	if !strings.Contains(body, "Support, a support email: not sent, because a member of staff tried to contact you without saying why") {
		t.Errorf("the page does not list the agent's attempt:\n%s", body)
	}
	for _, leak := range []string{"secret body", "lena@example.com", "agent-9"} {
		if strings.Contains(body, leak) {
			t.Errorf("the page shows %q", leak)
		}
	}
	// Another customer's page shows none of it.
	other := e.must(200, "GET", strings.TrimPrefix(e.signer.PreferencesURL(e.srv.URL, "bob", time.Hour, time.Now()), e.srv.URL), "", "")
	if !strings.Contains(other.body, "Nobody tried to contact you in the last 30 days.") {
		t.Errorf("bob's page:\n%s", other.body)
	}
}

func TestPressureReportOverHTTPIsForStaff(t *testing.T) {
	e := newEnv(t)
	e.historyWorkload("carol")
	r := e.must(200, "GET", "/v1/reports/pressure?since=7d", staffToken, "")
	var rep pressure.Report
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.Tried != 8 || rep.Total.Approved != 2 || rep.Total.Suppressed != 6 || rep.Total.Unsolicited != 1 {
		t.Errorf("total %+v", rep.Total)
	}
	if len(rep.TopAgentsUnsolicited) != 1 || rep.TopAgentsUnsolicited[0] != (pressure.Ranked{Service: "support", Agent: "agent-9", Count: 1}) {
		t.Errorf("top agents by unsolicited %+v", rep.TopAgentsUnsolicited)
	}
	if rep.BucketName != "day" || len(rep.Total.Trend) != 7 {
		t.Errorf("a week's trend: %d %ss", len(rep.Total.Trend), rep.BucketName)
	}
	for _, c := range []struct {
		token, query string
		code         int
	}{
		{aliceToken, "", http.StatusForbidden},
		{"", "", http.StatusUnauthorized},
		{staffToken, "?since=yesterday", http.StatusBadRequest},
		{staffToken, "?since=2026-11-02&until=2026-11-01", http.StatusBadRequest},
		{adminToken, "?since=24h", http.StatusOK},
	} {
		if got := e.do("GET", "/v1/reports/pressure"+c.query, c.token, ""); got.code != c.code {
			t.Errorf("%s with %s: %d %s, want %d", c.query, c.token, got.code, got.body, c.code)
		}
	}
}
