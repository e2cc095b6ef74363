package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/pressure"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// pressureWorkload runs a gatekeeper over a known workload: campaigns sends
// system emails; in support, agent-pushy contacts customers who never
// reached out, until the guard stops it; agent-calm mostly answers
// customers who did. It returns once every intent is in the contact
// history.
func (c *cli) pressureWorkload() {
	c.t.Helper()
	pol, err := policy.LoadOrDefault("testdata/pressure.yaml")
	if err != nil {
		c.t.Fatal(err)
	}
	_, js, err := connect.NATS(c.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		c.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.redis.Client.Options().Addr})
	c.t.Cleanup(func() { rdb.Close() })
	gk := gatekeeper.New(js, store.New(rdb, c.redis.Prefix), pol, gatekeeper.Options{Workers: 1, Now: c.clock, Subjects: c.subjects(),
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- gk.Run(ctx) }()
	go func() { done <- gk.RunInbound(ctx) }()
	c.t.Cleanup(func() { cancel(); <-done; <-done })
	for _, ready := range []<-chan struct{}{gk.Ready(), gk.InboundReady()} {
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			c.t.Fatal("gatekeeper not ready")
		}
	}

	n := 0
	send := func(service, agent, customer, channel, category, purpose, inReplyTo string) {
		n++
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("i-%03d", n), CustomerId: customer, Channel: channel, Category: category,
			Topic: "t", Sender: &hushv1.Sender{Service: service, AgentId: agent}, Initiator: "system",
			Purpose: purpose, InReplyTo: inReplyTo, CreatedAt: timestamppb.New(c.clock())}
		if agent != "" {
			it.Initiator = "agent"
		}
		msg, err := bus.NewMsg(c.subjects().Intent(service, channel), it.Id, it)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
			c.t.Fatal(err)
		}
		c.waitHistory(n)
		c.advance(time.Minute)
	}

	// The previous period, 31 days before t0.
	c.advance(-31 * 24 * time.Hour)
	for i := range 5 {
		send("campaigns", "", fmt.Sprintf("p-%d", i), "email", "marketing", "", "")
	}
	send("support", "agent-pushy", "a-90", "sms", "service", "upsell", "")
	send("support", "agent-pushy", "a-91", "sms", "service", "upsell", "")

	// The period: campaigns sends one a day over the last ten days, the
	// agents push in the last hour before t0.
	for i := range 10 {
		c.setClock(t0.Add(time.Duration(i-10)*24*time.Hour + time.Hour))
		send("campaigns", "", fmt.Sprintf("p-%d", i), "email", "marketing", "", "")
	}
	c.setClock(t0.Add(-time.Hour))
	for i := range 15 {
		send("support", "agent-pushy", fmt.Sprintf("a-%d", i), "sms", "service", "upsell", "")
	}
	for i := range 3 { // a second unsolicited contact inside 14 days
		send("support", "agent-pushy", fmt.Sprintf("a-%d", i), "sms", "service", "upsell", "")
	}
	for i := 15; i < 25; i++ { // 5 more pass, then the agent's 20 a day are spent
		send("support", "agent-pushy", fmt.Sprintf("a-%d", i), "sms", "service", "upsell", "")
	}
	send("support", "agent-calm", "b-0", "email", "service", "follow-up", "")
	send("support", "agent-calm", "b-1", "email", "service", "", "") // no purpose
	// b-2 wrote in; agent-calm answers inside the reply window.
	in, err := bus.NewMsg(c.subjects().Inbound("email"), "in-1", &hushv1.InboundContact{CustomerId: "b-2", Channel: "email", ThreadId: "th-1", ReceivedAt: timestamppb.New(c.clock())})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.js.PublishMsg(context.Background(), in); err != nil {
		c.t.Fatal(err)
	}
	c.waitAcked(c.subjects().Stream(bus.StreamInbound), "gatekeeper-inbound", 1)
	send("support", "agent-calm", "b-2", "email", "service", "", "th-1")
	send("support", "agent-calm", "b-2", "email", "service", "", "th-1")
	c.setClock(t0)
}

func (c *cli) setClock(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// waitHistory waits until the contact history holds n records.
func (c *cli) waitHistory(n int) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := c.js.Stream(context.Background(), c.subjects().Stream(bus.StreamOutcomes))
		if err != nil {
			c.t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		if info.State.Msgs >= uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("history holds %d records, want %d", info.State.Msgs, n)
		}
	}
}

// waitAcked waits until a consumer acknowledged n messages.
func (c *cli) waitAcked(stream, consumer string, n uint64) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		cons, err := c.js.Consumer(context.Background(), stream, consumer)
		if err == nil {
			if ci, err := cons.Info(context.Background()); err == nil && ci.AckFloor.Stream >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s/%s did not ack %d", stream, consumer, n)
		}
	}
}

func TestPressureReportNamesTheAgentWhoPushesHardest(t *testing.T) {
	c := newCLI(t)
	c.pressureWorkload()
	golden(t, "report-pressure", c.run("report", "pressure", "--since", "30d"))

	var r pressure.Report
	if err := json.Unmarshal([]byte(c.run("report", "pressure", "--since", "30d", "--json")), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.TopAgentsUnsolicited) == 0 || r.TopAgentsUnsolicited[0].Agent != "agent-pushy" || r.TopAgentsUnsolicited[0].Count != 28 {
		t.Errorf("top agents by unsolicited: %+v, want agent-pushy with 28 first", r.TopAgentsUnsolicited)
	}
	if len(r.TopAgentsSuppressed) == 0 || r.TopAgentsSuppressed[0].Agent != "agent-pushy" || r.TopAgentsSuppressed[0].Count != 8 {
		t.Errorf("top agents by suppressed: %+v, want agent-pushy with 8 first", r.TopAgentsSuppressed)
	}
	if len(r.TopServicesUnsolicited) != 1 || r.TopServicesUnsolicited[0].Service != "support" {
		t.Errorf("top services by unsolicited: %+v, want support alone (campaigns sends no agent contacts)", r.TopServicesUnsolicited)
	}
	rows := map[string]*pressure.Row{}
	for _, row := range append(r.Services, r.Agents...) {
		rows[row.Service+"/"+row.Agent] = row
	}
	for _, want := range []struct {
		key                                            string
		tried, approved, suppressed, unsolicited, prev int
		byReason                                       map[string]int
	}{
		{"campaigns/", 10, 10, 0, 0, 5, nil},
		{"support/agent-pushy", 28, 20, 8, 28, 2, map[string]int{"unsolicited_cap": 3, "agent_cap": 5}},
		// Two answers inside the reply window are not unsolicited.
		{"support/agent-calm", 4, 3, 1, 2, 0, map[string]int{"unsolicited_no_purpose": 1}},
		{"support/", 32, 23, 9, 30, 2, map[string]int{"unsolicited_cap": 3, "agent_cap": 5, "unsolicited_no_purpose": 1}},
	} {
		row := rows[want.key]
		if row == nil {
			t.Errorf("%s: no row", want.key)
			continue
		}
		if row.Tried != want.tried || row.Approved != want.approved || row.Suppressed != want.suppressed ||
			row.Unsolicited != want.unsolicited || row.PreviousTried != want.prev || fmt.Sprint(row.ByReason) != fmt.Sprint(orEmpty(want.byReason)) {
			t.Errorf("%s: tried %d approved %d suppressed %d unsolicited %d previous %d by reason %v; want %d %d %d %d %d %v",
				want.key, row.Tried, row.Approved, row.Suppressed, row.Unsolicited, row.PreviousTried, row.ByReason,
				want.tried, want.approved, want.suppressed, want.unsolicited, want.prev, want.byReason)
		}
	}
	if r.Agents[0].Agent != "agent-pushy" {
		t.Errorf("agents ordered %s first, want agent-pushy", r.Agents[0].Agent)
	}
	// The last day alone: the previous day had nothing, so no change.
	out := c.run("report", "pressure", "--since", "24h")
	if !strings.Contains(out, "per hour") {
		t.Errorf("a one-day report has hourly buckets:\n%s", out)
	}
}

func orEmpty(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}
