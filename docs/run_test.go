package docs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

// shTest is a fenced block a test runs: ```sh test. Blocks without the
// marker (make run, docker compose, servers that run until Ctrl-C) are
// only read.
var shTest = regexp.MustCompile("(?s)```sh test\n(.*?)```")

// The addresses the docs use, as a newcomer's machine has them. The test
// points them at private servers: it must never touch the shared NATS on
// 4222 or Redis on 6379 of a development machine.
const (
	docNATS  = "nats://127.0.0.1:4222"
	docRedis = "redis://127.0.0.1:6379/0"
	docPrefs = "localhost:8080"
)

// TestDocumentedCommandsRun runs every ```sh test block of the README and
// the docs, in order, one shell per file with `set -euo pipefail`, from the
// repository's root, against a private NATS (with Hush's streams), a
// private redis-server and a free HTTP port. `nats` is the NATS CLI pinned
// in go.mod's tool block. A command that fails fails the test, so the docs
// cannot rot.
func TestDocumentedCommandsRun(t *testing.T) {
	// Each file's blocks (at least so many), and what their output shows:
	// the stream's answer to `nats req`, the service's readiness.
	files := map[string]struct {
		least int
		shows []string
	}{
		"../README.md":  {2, []string{`{"stream":"HUSH_INTENTS","seq":1}`, "ready"}},
		"api.md":        {3, []string{"ready", `"mode":"MODE_DO_NOTHING"`, `"consentRevoked":true`, `"wordingVersion":"mkt-2026-10"`, `"withdrawnAt"`, `"top_agents_unsolicited":[]`, `"code":"REASON_CODE_CONSENT_REVOKED"`}},
		"operations.md": {2, []string{"Who pushes hardest, ", "decided_at,intent_id,customer_id", "export: 0 decisions"}},
		"producers.md":  {3, []string{`{"stream":"HUSH_INTENTS","seq":1}`, `{"stream":"HUSH_INBOUND","seq":1}`, "hush-check", `{"answers":[{"intentId":"sale-9","outcome":"OUTCOME_APPROVED"}]}`}},
		"compliance.md": {1, []string{"12 CFR 1006.14(b)(2)(i)(A)"}},
	}
	natsCLI := natsCLI(t)
	for file, want := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			blocks := shTest.FindAllSubmatch(data, -1)
			if len(blocks) < want.least {
				t.Fatalf("%s has %d ```sh test blocks, want at least %d", file, len(blocks), want.least)
			}
			ns := testenv.StartNATS(t)
			_, js := ns.Connect(t)
			testenv.EnsureStreams(t, js, bus.NewSubjects(""))
			rd := testenv.StartRedis(t, testenv.RedisOptions{Private: true})
			port, err := localsrv.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			repl := strings.NewReplacer(docNATS, ns.URL, docRedis, rd.URL, docPrefs, "127.0.0.1:"+strconv.Itoa(port))

			var script strings.Builder
			script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
			for i, b := range blocks {
				body := repl.Replace(string(b[1]))
				if strings.Contains(body, ":4222") || strings.Contains(body, ":6379") {
					t.Fatalf("%s block %d names a shared server the test cannot redirect:\n%s", file, i+1, body)
				}
				fmt.Fprintf(&script, "echo '--- %s block %d' >&2\n%s\n", filepath.Base(file), i+1, body)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
			cmd.Dir = ".."
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			cmd.Env = append(os.Environ(),
				"PATH="+filepath.Dir(natsCLI)+string(os.PathListSeparator)+os.Getenv("PATH"),
				"XDG_CONFIG_HOME="+t.TempDir(), // no NATS CLI context of the user's
				"NATS_URL="+ns.URL, "NATS_CONTEXT=",
				"HUSH_NATS_URL="+ns.URL, "HUSH_REDIS_URL="+rd.URL)
			out, err := cmd.CombinedOutput()
			// Whatever the script left running in its process group goes too.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if err != nil {
				t.Fatalf("%s: %v\n%s", file, err, out)
			}
			t.Logf("%s\n%s", file, out)
			// Compared without white space: protojson varies its spacing
			// from build to build on purpose, and so do table widths.
			compact := func(s string) string { return strings.Join(strings.Fields(s), "") }
			for _, w := range want.shows {
				if !strings.Contains(compact(string(out)), compact(w)) {
					t.Errorf("%s: the output does not show %s", file, w)
				}
			}
		})
	}
}

var natsOnce struct {
	sync.Once
	path string
	err  error
	dir  string
}

// natsCLI builds the NATS CLI pinned in go.mod (tool
// github.com/nats-io/natscli/nats) once per test run.
func natsCLI(t *testing.T) string {
	t.Helper()
	natsOnce.Do(func() {
		natsOnce.dir, natsOnce.err = os.MkdirTemp("", "hush-docs-bin")
		if natsOnce.err != nil {
			return
		}
		natsOnce.path = filepath.Join(natsOnce.dir, "nats")
		out, err := exec.Command("go", "build", "-o", natsOnce.path, "github.com/nats-io/natscli/nats").CombinedOutput()
		if err != nil {
			natsOnce.err = fmt.Errorf("go build the nats CLI: %v\n%s", err, out)
		}
	})
	if natsOnce.err != nil {
		t.Fatal(natsOnce.err)
	}
	return natsOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if natsOnce.dir != "" {
		os.RemoveAll(natsOnce.dir)
	}
	os.Exit(code)
}

// TestSecretsFileIsIgnored: the docs tell people to put secrets in .env;
// git must never pick it up.
func TestSecretsFileIsIgnored(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--git-dir").CombinedOutput()
	if err != nil {
		testenv.Missing(t, fmt.Sprintf("git does not see a work tree here: %v %s", err, out))
	}
	for _, f := range []string{".env", ".env.local", "deploy/.env"} {
		if err := exec.Command("git", "-C", "..", "check-ignore", "-q", f).Run(); err != nil {
			t.Errorf("%s is not ignored by git: secrets would be committed", f)
		}
	}
	if err := exec.Command("git", "-C", "..", "check-ignore", "-q", "deploy/compose.env.example").Run(); err == nil {
		t.Error("deploy/compose.env.example is ignored; it must be committed")
	}
}
