package loadgen_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/dev/loadgen"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

// TestRun runs every phase briefly on real servers: the harness must keep
// working whatever rules the policy has. It checks what the harness
// guarantees (every intent accounted for, one script call per decision),
// never how fast anything is.
func TestRun(t *testing.T) {
	n := testenv.StartNATS(t)
	r := testenv.StartRedis(t, testenv.RedisOptions{Private: true, AppendOnly: true})
	pol, _ := testenv.DaytimeDefaultPolicy(t) // the same phases by day and by night
	w := loadgen.DefaultWorkload()
	w.Customers = 2_000
	var log bytes.Buffer
	cfg := loadgen.Config{
		NATSURL: n.URL, RedisURL: r.URL, FlushRedis: true, Policy: pol, Workload: w,
		Workers: 16, MaxAckPending: 512, RedisPool: 24, AutoPipeline: true,
		Warmup: 300 * time.Millisecond, Duration: time.Second, Rate: 300, Replicas: []int{1, 2},
		Log: &log,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	want := []string{"ceiling", "relay", "hush", "latency", "replicas2"}
	if len(res.Phases) != len(want) {
		t.Fatalf("%d phases, want %v", len(res.Phases), want)
	}
	for i, p := range res.Phases {
		if p.Name != want[i] {
			t.Errorf("phase %d is %s, want %s", i, p.Name, want[i])
		}
		if p.Throughput <= 0 {
			t.Errorf("%s: no throughput measured", p.Name)
		}
		if p.Kind == "ceiling" {
			continue
		}
		if p.Missing != 0 || p.Duplicated != 0 || p.Outcomes != int64(p.Published) {
			t.Errorf("%s: %d published, %d outcomes, %d missing, %d duplicated", p.Name, p.Published, p.Outcomes, p.Missing, p.Duplicated)
		}
		if p.Kind == "hush" && (p.ScriptCalls < 1 || p.ScriptCalls > 1.5 || p.OtherCalls != 0) {
			t.Errorf("%s: %.3f script calls and %.3f other calls per decision, want 1 and 0", p.Name, p.ScriptCalls, p.OtherCalls)
		}
		if p.Kind == "hush" && (p.Customers == 0 || p.MemoryDelta <= 0) {
			t.Errorf("%s: memory not measured: %d customers, %d bytes", p.Name, p.Customers, p.MemoryDelta)
		}
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	for _, s := range []string{"hush / redis ceiling", "p99 at 300/s offered", "replicas2"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

func TestBookAudit(t *testing.T) {
	b := loadgen.NewBook(10)
	for seq := range uint64(5) {
		if !b.Sent(seq, int64(seq+1)) {
			t.Fatalf("book refused %d", seq)
		}
	}
	b.Outcome(0)
	b.Outcome(1)
	b.Outcome(1)
	if sent, n := b.Outcome(2); sent != 3 || n != 1 {
		t.Errorf("Outcome(2) = %d, %d; want sent 3, first outcome", sent, n)
	}
	if missing, dup := b.Audit(5); missing != 2 || dup != 1 {
		t.Errorf("Audit = %d missing, %d duplicated; want 2 and 1", missing, dup)
	}
	if b.Sent(b.Capacity(), 1) {
		t.Error("book accepted an intent past its capacity")
	}
}

func TestRoles(t *testing.T) {
	w := loadgen.DefaultWorkload()
	counts := map[loadgen.Role]int{}
	for k := range 100_000 {
		counts[w.Role(k)]++
	}
	if got := float64(counts[loadgen.RoleOptedOut]) / 100_000; got < 0.04 || got > 0.06 {
		t.Errorf("%.3f opted out, want about %.2f", got, w.OptedOut)
	}
	if got := float64(counts[loadgen.RoleDoNothing]) / 100_000; got < 0.015 || got > 0.025 {
		t.Errorf("%.3f do-nothing, want about %.2f", got, w.DoNothing)
	}
}

func TestSeqOfReadsEveryOutcomeID(t *testing.T) {
	for id, want := range map[string]uint64{
		"lg-42":                       42,
		"lg-7/deferred/1795000000000": 7, // a deferral's log entry
	} {
		if got, ok := loadgen.SeqOf(id, "lg-"); !ok || got != want {
			t.Errorf("SeqOf(%q) = %d, %v; want %d", id, got, ok, want)
		}
	}
	for _, id := range []string{"other-42", "lg-", "lg-x", "dl-HUSH_INTENTS-3"} {
		if _, ok := loadgen.SeqOf(id, "lg-"); ok {
			t.Errorf("SeqOf(%q) accepted a foreign id", id)
		}
	}
}

// TestRunWithGatekeeperProcesses runs the flat-out phase with the real
// gatekeeper binary as two processes against natsd as a process of its
// own, half the intents JSON, and wants each decision accounted for and
// the gatekeepers' CPU per decision reported.
func TestRunWithGatekeeperProcesses(t *testing.T) {
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "github.com/hush-oss/hush/services/gatekeeper", "github.com/hush-oss/hush/services/natsd").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := loadgen.StartNATSD(ctx, filepath.Join(bin, "natsd"), t.TempDir(), "2m")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	r := testenv.StartRedis(t, testenv.RedisOptions{Private: true, AppendOnly: true})
	pol, yaml := testenv.DaytimeDefaultPolicy(t)
	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyPath, yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	w := loadgen.DefaultWorkload()
	w.Customers = 2_000
	var log bytes.Buffer
	cfg := loadgen.Config{
		NATSURL: n.URL, RedisURL: r.URL, FlushRedis: true, Policy: pol, Workload: w,
		Workers: 16, MaxAckPending: 512, RedisPool: 24, AutoPipeline: true,
		Warmup: 500 * time.Millisecond, Duration: 2 * time.Second, Replicas: []int{2},
		Phases: []string{"replicas"}, JSONFraction: 0.5, NATSD: n, Log: &log,
		Procs: &loadgen.Procs{Gatekeeper: filepath.Join(bin, "gatekeeper"), PolicyPath: policyPath, Dir: t.TempDir()},
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if len(res.Phases) != 1 {
		t.Fatalf("%d phases, want replicas2", len(res.Phases))
	}
	p := res.Phases[0]
	if !p.Processes || p.JSONFraction != 0.5 {
		t.Errorf("phase ran with processes %v, JSON %v; want true, 0.5", p.Processes, p.JSONFraction)
	}
	if p.Missing != 0 || p.Duplicated != 0 || p.Outcomes != int64(p.Published) || p.Published == 0 {
		t.Errorf("%d published, %d outcomes, %d missing, %d duplicated", p.Published, p.Outcomes, p.Missing, p.Duplicated)
	}
	if p.GatekeeperCPU <= 0 || p.GatekeeperCPUPerD <= 0 || p.RedisCPUPerD <= 0 || p.NATSCPUPerD <= 0 {
		t.Errorf("CPU not measured: gatekeepers %.2f cores, %.1f µs/decision; Redis %.1f, NATS %.1f µs/decision",
			p.GatekeeperCPU, p.GatekeeperCPUPerD, p.RedisCPUPerD, p.NATSCPUPerD)
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	if !strings.Contains(table.String(), "gk µs/dec") {
		t.Errorf("table lacks the gatekeepers' CPU per decision:\n%s", table.String())
	}
	t.Logf("gatekeepers %.1f µs/decision, Redis %.1f µs/decision, %.0f decisions/s", p.GatekeeperCPUPerD, p.RedisCPUPerD, p.Throughput)
}
