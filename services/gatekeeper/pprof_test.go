package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/dev/testenv"
)

// TestPprofRefusesAnAddressOffLoopback wants --pprof refused, before
// anything is connected, unless the ops port listens on loopback only.
func TestPprofRefusesAnAddressOffLoopback(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:0", "192.0.2.1:8080", "[::]:0", ""} {
		var out testenv.Buffer
		err := run(context.Background(), []string{"--pprof", "--http-addr", addr, "--nats-url", "nats://127.0.0.1:1", "--redis-url", "redis://127.0.0.1:1/0"}, noEnv, &out)
		if err == nil || !strings.Contains(err.Error(), "--pprof") {
			t.Errorf("--pprof --http-addr %q: err %v, want a refusal naming --pprof", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		if err := loopbackOnly(addr); err != nil {
			t.Errorf("loopbackOnly(%q) = %v, want nil", addr, err)
		}
	}
}

// TestPprofIsOffByDefault runs the gatekeeper with and without --pprof and
// wants /debug/pprof/ served only when asked for.
func TestPprofIsOffByDefault(t *testing.T) {
	ns := testenv.StartNATS(t)
	rd := testenv.StartRedis(t, testenv.RedisOptions{Private: true})
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"default", nil, http.StatusNotFound},
		{"pprof", []string{"--pprof"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var out testenv.Buffer
			args := append([]string{"--nats-url", ns.URL, "--redis-url", rd.URL, "--http-addr", "127.0.0.1:0",
				"--prefix", "p" + tc.name, "--workers", "2", "--log-level", "info"}, tc.args...)
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, noEnv, &out) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			})
			base := "http://" + opsAddr(t, &out, done)
			for path, want := range map[string]int{"/healthz": http.StatusOK, "/debug/pprof/": tc.want, "/debug/pprof/cmdline": tc.want} {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
				}
			}
		})
	}
}

// opsAddr waits until the gatekeeper consumes and returns where it serves
// /metrics.
func opsAddr(t *testing.T, out *testenv.Buffer, done <-chan error) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		addr, consuming := "", false
		for _, line := range strings.Split(out.String(), "\n") {
			var l struct {
				Msg, Addr string
			}
			if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "serving /metrics") {
				addr = l.Addr
			}
			consuming = consuming || l.Msg == "gatekeeper consuming"
		}
		if addr != "" && consuming {
			return addr
		}
		select {
		case err := <-done:
			t.Fatalf("gatekeeper stopped: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("no ops address after 60s:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
