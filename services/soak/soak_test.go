package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildBinaries builds the gatekeeper and natsd once for the tests.
func buildBinaries(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("the soak needs redis-server on PATH (make deps): %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/hush-oss/hush/services/gatekeeper", "github.com/hush-oss/hush/services/natsd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

func runSoak(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := io.Writer(&out)
	if testing.Verbose() {
		w = io.MultiWriter(&out, os.Stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	args = append(args, "--bin-dir", buildBinaries(t), "--work-dir", filepath.Join(t.TempDir(), "soak"), "--timeout", "7m")
	if err := run(ctx, args, func(string) string { return "" }, w); err != nil {
		t.Fatalf("soak: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestSoakUnderFaults is the short soak of `make test`: 20k intents, three
// gatekeepers SIGKILLed (or SIGTERMed, which must exit 0) every two
// seconds, Redis and NATS restarted once each. run fails on any lost,
// duplicated or doubly-decided intent, any cap or consent violation, and
// any SIGTERM that does not exit 0 within the grace period.
func TestSoakUnderFaults(t *testing.T) {
	out := runSoak(t, "--intents", "20000", "--kill-every", "2s", "--term-every", "3")
	for _, want := range []string{"1 Redis restarts", "1 NATS restarts", "lost             0", "VERDICT          PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, " 0 SIGKILLs") {
		t.Errorf("no gatekeeper was killed:\n%s", out)
	}
}

// TestBacklogKeepsGatekeeperMemoryBounded stores 50k intents of 2 KiB
// (100 MB) before a single gatekeeper starts: its in-flight work is bounded,
// so its peak RSS stays far below the backlog.
func TestBacklogKeepsGatekeeperMemoryBounded(t *testing.T) {
	out := runSoak(t, "--intents", "50000", "--backlog", "--payload", "2048", "--gatekeepers", "1", "--workers", "64", "--nats-sync", "2m",
		"--kill-every", "0", "--redis-restart=false", "--nats-restart=false", "--deferred", "0", "--max-rss-mib", "96")
	if !strings.Contains(out, "VERDICT          PASS") {
		t.Errorf("report:\n%s", out)
	}
}
