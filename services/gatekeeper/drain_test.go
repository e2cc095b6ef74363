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

// TestSIGTERMMidLoadDrainsExitsZeroAndLosesNothing runs the real binary on
// a backlog, sends SIGTERM while it is deciding, and wants: exit 0 well
// within the grace period, every intent it took settled (none left
// ack-pending), and after a second run every intent decided exactly once.
func TestSIGTERMMidLoadDrainsExitsZeroAndLosesNothing(t *testing.T) {
	ns := testenv.StartNATS(t)
	rd := testenv.StartRedis(t, testenv.RedisOptions{Private: true})
	_, js := ns.Connect(t)
	subjects := bus.NewSubjects("")
	testenv.EnsureStreams(t, js, subjects)
	bin := filepath.Join(t.TempDir(), "gatekeeper")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	const n = 3000
	ctx := context.Background()
	var futs []jetstream.PubAckFuture
	for i := range n {
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("t-%04d", i), CustomerId: fmt.Sprintf("c-%02d", i%40), Channel: "email",
			Category: []string{"marketing", "transactional", "critical"}[i%3], Sender: &hushv1.Sender{Service: "demo"}, CreatedAt: timestamppb.Now()}
		data, _ := proto.Marshal(it)
		f, err := js.PublishAsync(subjects.Intent("demo", "email"), data, jetstream.WithMsgID(it.GetId()))
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}

	outcomes := func() uint64 {
		var sum uint64
		for _, k := range []string{bus.StreamDispatch, bus.StreamSuppressed, bus.StreamDeadLetter} {
			s, err := js.Stream(ctx, subjects.Stream(k))
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sum += info.State.Msgs
		}
		return sum
	}
	_, daytime := testenv.DaytimeDefaultPolicy(t) // about draining, whatever the time of day
	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyPath, daytime, 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *strings.Builder) {
		var log strings.Builder
		cmd := exec.Command(bin, "--nats-url", ns.URL, "--redis-url", rd.URL, "--http-addr", "127.0.0.1:0", "--policy", policyPath, "--prefix", "hush",
			"--workers", "16", "--shutdown-grace", "10s", "--log-level", "warn")
		for _, kv := range os.Environ() { // settings from the flags only
			if !strings.HasPrefix(kv, "HUSH_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &log
	}

	cmd, log := start()
	deadline := time.Now().Add(60 * time.Second)
	for outcomes() < n/10 { // mid-load: some decided, most not
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress in 60s:\n%s", log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	termAt := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v (want 0)\n%s", err, log)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running 15s after SIGTERM (grace 10s)\n%s", log)
	}
	took := time.Since(termAt)
	decided := outcomes()
	if decided >= n {
		t.Fatalf("all %d intents were decided before SIGTERM took effect; the test needs a slower start", n)
	}
	t.Logf("SIGTERM after %d outcomes; exited 0 in %s with %d outcomes", n/10, took.Round(time.Millisecond), decided)

	// Drained: whatever the stopped gatekeeper was delivered, it settled.
	cons, err := js.Consumer(ctx, subjects.Stream(bus.StreamIntents), "gatekeeper")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d intents left ack-pending by the drained gatekeeper", info.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}

	cmd, log = start()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(90 * time.Second); outcomes() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d outcomes after the restart:\n%s", outcomes(), n, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything beyond n would be a duplicate
	if got := outcomes(); got != n {
		t.Fatalf("%d outcomes for %d intents", got, n)
	}
	seen := map[string]int{}
	for _, k := range []string{bus.StreamDispatch, bus.StreamSuppressed} {
		c, err := js.OrderedConsumer(ctx, subjects.Stream(k), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		info, _ := c.Info(ctx)
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
