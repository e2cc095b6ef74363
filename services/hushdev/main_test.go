package main

import (
	"context"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMakeRunDecidesTheDemoAndStopsCleanly runs what `make run` runs: real
// NATS in-process, a private redis-server, the gatekeeper and the demo, then
// Ctrl-C.
func TestMakeRunDecidesTheDemoAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testenv.Buffer
	done := make(chan error, 1)
	env := map[string]string{"HUSH_NATS_PORT": "0", "HUSH_STATE_DIR": t.TempDir()}
	go func() {
		done <- run(ctx, []string{"--demo-burst", "60", "--demo-rate", "0", "--summary-every", "100ms"},
			func(k string) string { return env[k] }, &out)
	}()

	final := regexp.MustCompile(`dispatched (\d+) \| suppressed (\d+) .*\| deferred (\d+) \| dead-lettered 3`)
	deadline := time.After(60 * time.Second)
	for {
		// 60 intents and 3 malformed messages, all accounted for.
		// The latest tally line counts.
		if all := final.FindAllStringSubmatch(out.String(), -1); len(all) > 0 {
			if m := all[len(all)-1]; atoi(m[1])+atoi(m[2])+atoi(m[3]) == 60 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("demo not decided within 60s:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s of Ctrl-C")
	}
	for _, want := range []string{"Hush is running.", "NATS    nats://127.0.0.1:", "Redis   redis://127.0.0.1:", "stopped: gatekeeper drained"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// The export lines point hushctl at this run, and the env file says
	// the same.
	exports := regexp.MustCompile(`(?m)^  export (HUSH_[A-Z_]+)=(\S+)$`).FindAllStringSubmatch(out.String(), -1)
	got := map[string]string{}
	for _, e := range exports {
		got[e[1]] = e[2]
	}
	if !strings.HasPrefix(got["HUSH_NATS_URL"], "nats://127.0.0.1:") || !strings.HasPrefix(got["HUSH_REDIS_URL"], "redis://127.0.0.1:") || got["HUSH_PREFIX"] != "hush" {
		t.Errorf("export lines %v:\n%s", got, out.String())
	}
	file, err := os.ReadFile(filepath.Join(env["HUSH_STATE_DIR"], "hushctl.env"))
	if err != nil || !strings.Contains(string(file), "export HUSH_NATS_URL="+got["HUSH_NATS_URL"]+"\n") {
		t.Errorf("hushctl.env %q, %v", file, err)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
