package gatekeeper_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

const failoverPolicy = `
version: failover-1
categories:
  transactional: { class: transactional }
  marketing:     { class: marketing }
  support:       { class: service }
caps:
  - { id: customer-hourly, scope: customer, window: 1h, max: 3, classes: [marketing] }
unsolicited:
  customer: { window: 14d, max: 1 }
  agent:    { window: 24h, max: 20 }
`

// retryCounter is an observer counting deliveries handed back for a retry.
type retryCounter struct{ n atomic.Int64 }

func (r *retryCounter) Retried(error)                                                { r.n.Add(1) }
func (r *retryCounter) Decided(*hushv1.Decision, bool, time.Duration, time.Duration) {}
func (r *retryCounter) DeadLettered(string)                                          {}
func (r *retryCounter) InFlight(int)                                                 {}

// TestRedisClusterFailover drives intents through three gatekeepers on a
// Redis Cluster of 3 masters, each with a replica (AOF everysec, as
// shipped), and SIGKILLs a master a third of the way through. Its replica
// is promoted on its own (cluster-node-timeout 1s); the gatekeepers' cluster
// clients follow it, and what failed meanwhile is handed back and retried.
//
// Then the streams are audited. Every intent has one terminal outcome, none
// is dispatched twice and nothing is dead-lettered. Replication is
// asynchronous, so writes the old master acknowledged but had not sent to
// its replica are lost: decision records and ledger entries of the last
// moment before the kill. Caps may be exceeded by the contacts so
// forgotten, never by more (docs/reliability.md); the test counts both
// and logs the figures.
func TestRedisClusterFailover(t *testing.T) {
	rc := testenv.StartRedisCluster(t, testenv.RedisClusterOptions{Replicas: 1, NodeTimeout: time.Second, AppendOnly: true})
	e := &env{nats: testenv.StartNATS(t), streams: bus.DefaultStreamOptions(), redisURL: rc.URL, rdb: rc.Client, prefix: rc.Prefix}
	h := newHarnessOn(t, e)
	h.usePolicy(failoverPolicy)
	h.autoPipeline = true // as the gatekeeper binary runs by default

	const gatekeepers, n, customers, agents, agentBudget, customerCap = 3, 2400, 200, 8, 20, 3
	retries := &retryCounter{}
	for range gatekeepers {
		// Production's retry shape, shortened: the retries of an intent
		// must outlast the failover (a few seconds) well within MaxDeliver.
		h.startGatekeeper(gatekeeper.Options{Workers: 16, AckWait: 10 * time.Second,
			RetryBase: 100 * time.Millisecond, RetryMax: 3 * time.Second, Observer: retries})
	}

	// Intents: 2 in 5 marketing and 2 in 5 transactional to 200 customers
	// (each gets 6 marketing ones against a cap of 3), 1 in 5 an agent's
	// unsolicited contact to a customer of its own (8 agents, a budget of
	// 20 each, about 60 intents each).
	type meta struct{ customer, kind, agent string }
	intents := make([]meta, n)
	for i := range n {
		c := fmt.Sprintf("m-%03d", i%customers)
		switch i % 5 {
		case 0, 1:
			intents[i] = meta{c, "marketing", ""}
		case 2, 3:
			intents[i] = meta{c, "transactional", ""}
		default:
			intents[i] = meta{fmt.Sprintf("a-%04d", i), "agent", fmt.Sprintf("agent-%d", i%agents)}
		}
	}
	id := func(i int) string { return fmt.Sprintf("fo-%04d", i) }
	loadBefore, begun := loadAverage(), time.Now()
	var pub sync.WaitGroup
	for w := range 4 {
		pub.Add(1)
		go func() {
			defer pub.Done()
			for i := w; i < n; i += 4 {
				m := intents[i]
				if m.kind == "agent" {
					h.publish(agentIntent(id(i), m.customer, m.agent, "renewal"))
				} else {
					h.publish(intent(id(i), m.customer, "email", m.kind))
				}
			}
		}()
	}

	settled := func() int {
		return int(h.streamMsgs(bus.StreamDispatch) + h.streamMsgs(bus.StreamSuppressed) + h.streamMsgs(bus.StreamDeadLetter))
	}
	waitFor(t, 2*time.Minute, "a third of the intents settled", func() bool { return settled() >= n/3 })
	atKill := settled()
	// Decisions a second before the kill: a third of them on the master
	// killed, whose unreplicated writes are what a failover can lose.
	rate := float64(atKill) / time.Since(begun).Seconds()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, err := rc.Proc.KillPrimary(ctx, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("master %s SIGKILLed with %d of %d intents settled; node %d promoted after %s",
		rc.Proc.Addrs[0], atKill, n, f.Promoted, f.Took.Round(time.Millisecond))
	pub.Wait()
	start := time.Now()
	waitFor(t, 3*time.Minute, "every intent settled", func() bool { return settled() >= n })
	time.Sleep(500 * time.Millisecond) // anything more would be a duplicate
	t.Logf("the rest settled %s after the promotion", time.Since(start).Round(time.Millisecond))

	// The audit: outcomes from the streams, what Redis still knows.
	outcomes, _ := h.terminal()
	var twice, dispatchedTwice, missing int
	dispatched := map[string]bool{}
	for i := range n {
		got := outcomes[id(i)]
		switch {
		case len(got) == 0:
			missing++
			t.Errorf("%s has no outcome", id(i))
		case len(got) > 1:
			twice++
			t.Logf("%s has %d outcomes: %v", id(i), len(got), got)
		}
		k := 0
		for _, o := range got {
			if o == "dispatched" {
				k++
			}
			if strings.HasPrefix(o, "dead:") {
				t.Errorf("%s dead-lettered (%s): a transient failure must end in a retry", id(i), o)
			}
		}
		if k > 1 {
			dispatchedTwice++
		}
		dispatched[id(i)] = k > 0
	}
	if len(outcomes) != n {
		t.Errorf("%d intents with outcomes, want %d", len(outcomes), n)
	}
	if dispatchedTwice > 0 {
		t.Errorf("%d intents dispatched twice, want none", dispatchedTwice)
	}

	// Decision records and ledger entries lost with the old master. The
	// test's own client has not used the cluster since the kill: its first
	// read of the old master's slots fails and has it reload the slot map.
	since := time.Now().Add(-time.Hour)
	waitFor(t, 30*time.Second, "the test's client to follow the promotion", func() bool {
		for c := range customers {
			if _, err := h.store.Ledger(ctx, fmt.Sprintf("m-%03d", c), since); err != nil {
				return false
			}
		}
		return true
	})
	lostRecords := 0
	inLedger := map[string]bool{}
	for c := range customers {
		ledger, err := h.store.Ledger(ctx, fmt.Sprintf("m-%03d", c), since)
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range ledger {
			inLedger[ct.IntentID] = true
		}
	}
	for i, m := range intents {
		if m.kind == "agent" {
			ledger, err := h.store.Ledger(ctx, m.customer, since)
			if err != nil {
				t.Fatal(err)
			}
			for _, ct := range ledger {
				inLedger[ct.IntentID] = true
			}
		}
		d, err := h.store.Decision(ctx, m.customer, id(i))
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			lostRecords++
		}
	}
	// Caps: every exceedance must be paid for by a forgotten contact of
	// the same customer (or agent).
	mktDispatched, mktForgotten := map[string]int{}, map[string]int{}
	agentDispatched, agentForgotten := map[string]int{}, map[string]int{}
	lostLedger := 0
	for i, m := range intents {
		if !dispatched[id(i)] {
			continue
		}
		forgotten := !inLedger[id(i)]
		if forgotten {
			lostLedger++
		}
		switch m.kind {
		case "marketing":
			mktDispatched[m.customer]++
			if forgotten {
				mktForgotten[m.customer]++
			}
		case "agent":
			agentDispatched[m.agent]++
		}
	}
	pendingLeft := 0
	for a := range agents {
		agent := fmt.Sprintf("agent-%d", a)
		counted, pending, err := h.store.AgentLedger(ctx, agent, since)
		if err != nil {
			t.Fatal(err)
		}
		agentForgotten[agent] = max(0, agentDispatched[agent]-len(counted))
		pendingLeft += pending
	}
	exceeded, unexplained := 0, 0
	check := func(what string, got, limit, forgotten int) {
		if over := got - limit; over > 0 {
			exceeded += over
			if over > forgotten {
				unexplained += over - forgotten
				t.Errorf("%s: %d dispatched against a cap of %d, with %d contacts forgotten", what, got, limit, forgotten)
			}
		}
	}
	for c, got := range mktDispatched {
		check("customer "+c, got, customerCap, mktForgotten[c])
	}
	for a, got := range agentDispatched {
		check(a, got, agentBudget, agentForgotten[a])
	}
	if twice > lostRecords {
		t.Errorf("%d intents with two outcomes but only %d decision records lost", twice, lostRecords)
	}
	t.Logf("failover figures: intents %d, gatekeepers %d, %.0f decisions/s before the kill, failover %s, retries %d, dead letters 0 wanted, "+
		"decision records lost %d, dispatched contacts missing from ledgers %d, caps exceeded by %d (unexplained %d), "+
		"intents with two outcomes %d, dispatched twice %d, agent reservations left pending %d, load average %s -> %s",
		n, gatekeepers, rate, f.Took.Round(time.Millisecond), retries.n.Load(), lostRecords, lostLedger, exceeded, unexplained,
		twice, dispatchedTwice, pendingLeft, loadBefore, loadAverage())
}

// loadAverage is the 1-, 5- and 15-minute load average, for the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
