package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// crashEnv is the real gatekeeper binary against a NATS server and a
// redis-server of its own, with intents to decide.
type crashEnv struct {
	t        *testing.T
	ns       *testenv.NATS
	rd       *testenv.Redis
	js       jetstream.JetStream
	subjects bus.Subjects
	bin      string
	policy   string
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	e := &crashEnv{t: t, ns: testenv.StartNATS(t), rd: testenv.StartRedis(t, testenv.RedisOptions{Private: true}), subjects: bus.NewSubjects("")}
	_, e.js = e.ns.Connect(t)
	testenv.EnsureStreams(t, e.js, e.subjects)
	e.bin = filepath.Join(t.TempDir(), "gatekeeper")
	if out, err := exec.Command("go", "build", "-o", e.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	_, daytime := testenv.DaytimeDefaultPolicy(t)
	e.policy = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(e.policy, daytime, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// publish publishes n valid intents with ids <prefix>-<i>.
func (e *crashEnv) publish(prefix string, n int) {
	e.t.Helper()
	var futs []jetstream.PubAckFuture
	for i := range n {
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("%s-%05d", prefix, i), CustomerId: fmt.Sprintf("c-%03d", i%200), Channel: "email",
			Category: []string{"marketing", "transactional", "critical"}[i%3], Sender: &hushv1.Sender{Service: "demo"}, CreatedAt: timestamppb.Now()}
		data, _ := proto.Marshal(it)
		f, err := e.js.PublishAsync(e.subjects.Intent("demo", "email"), data, jetstream.WithMsgID(it.GetId()))
		if err != nil {
			e.t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			e.t.Fatal(err)
		}
	}
}

func (e *crashEnv) msgs(kind string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), e.subjects.Stream(kind))
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// outcomes counts dispatches, suppressions and dead letters.
func (e *crashEnv) outcomes() uint64 {
	return e.msgs(bus.StreamDispatch) + e.msgs(bus.StreamSuppressed) + e.msgs(bus.StreamDeadLetter)
}

func (e *crashEnv) consumer() *jetstream.ConsumerInfo {
	e.t.Helper()
	c, err := e.js.Consumer(context.Background(), e.subjects.Stream(bus.StreamIntents), "gatekeeper")
	if err != nil {
		return nil // not created yet
	}
	info, err := c.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// gk is one gatekeeper process.
type gk struct {
	cmd  *exec.Cmd
	log  *testenv.Buffer
	done chan struct{}
}

func (e *crashEnv) start(args ...string) *gk {
	e.t.Helper()
	g := &gk{log: new(testenv.Buffer), done: make(chan struct{})}
	g.cmd = exec.Command(e.bin, append([]string{"--nats-url", e.ns.URL, "--redis-url", e.rd.URL, "--http-addr", "", "--policy", e.policy,
		"--prefix", "hush", "--workers", "16", "--log-level", "info"}, args...)...)
	for _, kv := range os.Environ() { // settings from the flags only
		if !strings.HasPrefix(kv, "HUSH_") {
			g.cmd.Env = append(g.cmd.Env, kv)
		}
	}
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { g.cmd.Wait(); close(g.done) }()
	e.t.Cleanup(g.kill)
	return g
}

// consuming waits for the process's line saying it consumes intents.
func (g *gk) consuming(t *testing.T) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(g.log.String(), `"msg":"gatekeeper consuming"`) {
		select {
		case <-g.done:
			t.Fatalf("gatekeeper exited:\n%s", g.log)
		case <-deadline:
			t.Fatalf("gatekeeper not consuming after 60s:\n%s", g.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (g *gk) kill() {
	g.cmd.Process.Kill()
	<-g.done
}

// TestIntentsAKilledGatekeeperHeldAreDecidedByAnotherWithin5s: two
// gatekeepers share the intents; one freezes holding its share and is
// SIGKILLed; the other decides everything within 5s of the kill (the
// default ack wait is 3s), not after the 30s it used to be.
func TestIntentsAKilledGatekeeperHeldAreDecidedByAnotherWithin5s(t *testing.T) {
	e := newCrashEnv(t)
	a, b := e.start(), e.start()
	a.consuming(t)
	b.consuming(t)
	a.cmd.Process.Signal(syscall.SIGSTOP) // it holds what it is delivered
	const n = 400
	e.publish("held", n)
	// Every intent delivered: what is pending an ack then is a's share (and
	// whatever b has in hand). Read it as soon as nothing is left to deliver:
	// a's share is redelivered to b once the 3s ack wait passes, and on a
	// loaded machine b may take that long over its own share.
	var held int
	waitUntil(t, 30*time.Second, "every intent delivered", func() bool {
		info := e.consumer()
		held = info.NumAckPending
		return info.NumPending == 0
	})
	if held == 0 {
		t.Fatal("the frozen gatekeeper held no intent: the test did not reach its point")
	}
	killedAt := time.Now()
	a.kill()
	waitUntil(t, 30*time.Second, "every intent decided", func() bool { return e.outcomes() >= n })
	took := time.Since(killedAt)
	t.Logf("%d intents held by the killed gatekeeper; all %d decided %s after the kill", held, n, took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("decided %s after the kill, want within 5s", took.Round(time.Millisecond))
	}
	if dead := e.msgs(bus.StreamDeadLetter); dead != 0 {
		t.Errorf("%d valid intents dead-lettered", dead)
	}
}

// TestIntentsHeldAcrossManySIGKILLsAreNeverDeadLettered: gatekeepers are
// SIGKILLed one after another while they hold the same intents, with
// --max-deliver 2. Each is frozen as soon as it consumes, so it holds what
// JetStream delivers to it (the redeliveries of the one killed before it
// first) without deciding it, as a gatekeeper killed every few seconds
// does; the intents it held go to the next one. JetStream used to give up
// on them after MaxDeliver deliveries and they were dead-lettered; now a
// gatekeeper that stays up decides every one, once.
func TestIntentsHeldAcrossManySIGKILLsAreNeverDeadLettered(t *testing.T) {
	e := newCrashEnv(t)
	const n, kills = 300, 4
	e.publish("kill", n)
	maxDelivered := 0
	for k, tries := 0, 0; k < kills; tries++ {
		if tries == 3*kills {
			t.Fatalf("only %d of %d gatekeepers were handed redelivered intents", k, kills)
		}
		g := e.start("--max-deliver", "2")
		g.consuming(t)
		g.cmd.Process.Signal(syscall.SIGSTOP)
		// It holds intents; from the second on, the redeliveries of the
		// intents its predecessor held. A pull that expires first (5s)
		// misses them: that one is killed without counting.
		deadline := time.Now().Add(6 * time.Second)
		for {
			info := e.consumer()
			if info.NumAckPending > 0 && (k == 0 || info.NumRedelivered > 0) {
				maxDelivered = max(maxDelivered, info.NumRedelivered)
				k++
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		g.kill()
	}
	t.Logf("%d gatekeepers killed holding intents; up to %d intents redelivered at once", kills, maxDelivered)

	g := e.start("--max-deliver", "2")
	waitUntil(t, 60*time.Second, "every intent decided", func() bool { return e.outcomes() >= n })
	time.Sleep(300 * time.Millisecond) // anything beyond n would be a duplicate
	if dead := e.msgs(bus.StreamDeadLetter); dead != 0 {
		t.Errorf("%d valid intents dead-lettered\n%s", dead, g.log)
	}
	seen := map[string]int{}
	for _, kind := range []string{bus.StreamDispatch, bus.StreamSuppressed} {
		c, err := e.js.OrderedConsumer(context.Background(), e.subjects.Stream(kind), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		info, _ := c.Info(context.Background())
		for left := info.NumPending; left > 0; {
			batch, err := c.Fetch(int(left), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for m := range batch.Messages() {
				seen[m.Headers().Get(nats.MsgIdHdr)]++
				left--
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct intents have an outcome, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s has %d outcomes", id, c)
		}
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
