// Command composesmoke starts Hush's docker compose stack and checks it from
// outside the containers, with plain clients (nats.go, net/http) and the
// docker CLI, as an operator would: `make compose-smoke` runs it.
//
// It checks, in order, timing each step:
//
//  1. `docker compose up --wait`: every service up, every health check
//     healthy (nats, redis, jaeger, both gatekeepers, prefs).
//  2. An intent published with the producer's credential reaches the demo
//     sink (its "would send" log line names the intent).
//  3. The producer (user "producer", publishing as "demo")'s credential is refused on hush.dispatch.>, and the
//     forged dispatch is in no stream.
//  4. The preferences API answers with a token and refuses without one.
//  5. Jaeger's HTTP API holds the trace of the intent of step 2 (the
//     producer's traceparent), with the gatekeeper's spans.
//  6. Prometheus (the monitoring profile) scrapes both gatekeeper replicas
//     and the preferences service, evaluates every rule of
//     deploy/prometheus/hush.rules.yml, and hush:decisions:rate5m has data.
//  7. `docker kill` of one gatekeeper replica holding intents loses
//     nothing: every intent is dispatched or suppressed, none twice (its
//     intents are redelivered to the other after the ack wait); the
//     replica is healthy again once started.
//  8. `docker compose down -v` leaves no container, volume or network.
//
// Host ports come from HUSH_NATS_PORT, HUSH_REDIS_PORT, ... when set, else
// free ones are picked, so a host whose 4222 or 6379 is taken runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/platform/config"
)

type settings struct {
	Dir         string        `conf:"dir" default:"." help:"the repository root (where docker-compose.yml is)"`
	Project     string        `conf:"project" default:"hush-smoke" help:"compose project name: its containers, network and volumes carry it"`
	EnvFile     string        `conf:"env-file" default:"deploy/compose.env.example" help:"the secrets (dev-only values by default)"`
	Official    bool          `conf:"official" help:"use the official images and build Hush's (docker compose up --build) instead of the local stand-ins"`
	Keep        bool          `conf:"keep" help:"leave the stack running at the end (and after a failure)"`
	NoMonitor   bool          `conf:"no-monitoring" help:"leave out the monitoring profile's Prometheus and its checks"`
	KillIntents int           `conf:"kill-intents" default:"300" help:"intents published across the kill of a gatekeeper replica"`
	Timeout     time.Duration `conf:"timeout" default:"15m" help:"the whole run"`
}

// hostPorts are the compose file's host-port variables.
var hostPorts = []string{"HUSH_NATS_PORT", "HUSH_NATS_MONITOR_PORT", "HUSH_REDIS_PORT", "HUSH_JAEGER_UI_PORT", "HUSH_OTLP_PORT",
	"HUSH_PREFS_PORT", "HUSH_PROMETHEUS_PORT", "HUSH_GRAFANA_PORT"}

// services are those up starts: the whole stack, and of the monitoring
// profile Prometheus (Grafana has no stand-in image).
var services = []string{"nats", "redis", "jaeger", "gatekeeper", "prefs", "demo-producer", "demo-sink"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "composesmoke:", err)
		os.Exit(1)
	}
}

type smoke struct {
	s       settings
	out     io.Writer
	secrets map[string]string
	ports   map[string]string
	env     []string
	timings []timing
}

type timing struct {
	step string
	took time.Duration
	err  error
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var s settings
	if err := config.Parse("SMOKE", &s, args, getenv, stdout); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	root, err := filepath.Abs(s.Dir)
	if err != nil {
		return err
	}
	s.Dir = root
	if !filepath.IsAbs(s.EnvFile) {
		s.EnvFile = filepath.Join(root, s.EnvFile)
	}
	sm := &smoke{s: s, out: stdout, ports: map[string]string{}}
	if sm.secrets, err = readEnvFile(s.EnvFile); err != nil {
		return err
	}
	sm.env = os.Environ()
	for _, k := range hostPorts {
		p := getenv(k)
		if p == "" {
			if p, err = freePort(); err != nil {
				return err
			}
		}
		sm.ports[k] = p
		sm.env = append(sm.env, k+"="+p)
	}
	fmt.Fprintf(stdout, "compose-smoke: project %s, host ports %v\n", s.Project, sm.ports)

	start := time.Now()
	runErr := sm.steps(ctx)
	if runErr != nil {
		sm.diagnose()
	}
	if !s.Keep {
		// Always take the stack down; after a failure too.
		downErr := sm.step("compose down -v leaves nothing", func() error { return sm.down(context.WithoutCancel(ctx)) })
		runErr = errors.Join(runErr, downErr)
	}
	fmt.Fprintln(stdout, "\ncompose-smoke summary:")
	for _, t := range sm.timings {
		status := "ok"
		if t.err != nil {
			status = "FAIL"
		}
		fmt.Fprintf(stdout, "  %-4s %7.1fs  %s\n", status, t.took.Seconds(), t.step)
	}
	fmt.Fprintf(stdout, "  total %.1fs\n", time.Since(start).Seconds())
	if runErr != nil {
		return runErr
	}
	fmt.Fprintln(stdout, "compose-smoke: PASS")
	return nil
}

func (sm *smoke) steps(ctx context.Context) error {
	var (
		intentID = "smoke-" + randHex(6)
		traceID  = randHex(16)
	)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"compose up, every health check healthy", func() error { return sm.up(ctx) }},
		{"producer's intent reaches the demo sink", func() error { return sm.dispatched(ctx, intentID, traceID) }},
		{"producer refused on hush.dispatch.>", func() error { return sm.producerCannotDispatch(ctx) }},
		{"prefs API: 200 with a token, 401 without", func() error { return sm.prefsAPI(ctx) }},
		{"the intent's trace is in Jaeger", func() error { return sm.traced(ctx, traceID) }},
	}
	if !sm.s.NoMonitor {
		steps = append(steps, struct {
			name string
			fn   func() error
		}{"Prometheus scrapes every Hush service and evaluates the rules", func() error { return sm.prometheus(ctx) }})
	}
	// Last: Prometheus wants both replicas up.
	steps = append(steps, struct {
		name string
		fn   func() error
	}{"docker kill of a gatekeeper replica loses nothing", func() error { return sm.killReplica(ctx) }})
	for _, st := range steps {
		if err := sm.step(st.name, st.fn); err != nil {
			return err
		}
	}
	return nil
}

func (sm *smoke) step(name string, fn func() error) error {
	fmt.Fprintf(sm.out, "== %s\n", name)
	t0 := time.Now()
	err := fn()
	took := time.Since(t0)
	sm.timings = append(sm.timings, timing{name, took, err})
	if err != nil {
		fmt.Fprintf(sm.out, "   FAIL after %.1fs: %v\n", took.Seconds(), err)
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(sm.out, "   ok (%.1fs)\n", took.Seconds())
	return nil
}

func (sm *smoke) logf(format string, args ...any) {
	fmt.Fprintf(sm.out, "   "+format+"\n", args...)
}

// compose runs docker compose on the project and returns its stdout.
func (sm *smoke) compose(ctx context.Context, args ...string) (string, error) {
	full := []string{"compose", "--project-name", sm.s.Project, "--project-directory", sm.s.Dir,
		"--env-file", sm.s.EnvFile, "-f", filepath.Join(sm.s.Dir, "docker-compose.yml")}
	if !sm.s.Official {
		full = append(full, "-f", filepath.Join(sm.s.Dir, "deploy/docker/compose.local.yml"))
	}
	if !sm.s.NoMonitor {
		// So that ps and down see Prometheus; up names the services it
		// starts, which leaves Grafana out.
		full = append(full, "--profile", "monitoring")
	}
	return sm.docker(ctx, append(full, args...)...)
}

func (sm *smoke) docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = sm.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 20))
	}
	return stdout.String(), nil
}

func (sm *smoke) up(ctx context.Context) error {
	args := []string{"up", "--detach", "--wait", "--wait-timeout", "300"}
	if sm.s.Official {
		args = append(args, "--build")
	} else {
		args = append(args, "--no-build", "--pull", "never")
	}
	args = append(args, services...)
	if !sm.s.NoMonitor {
		args = append(args, "prometheus")
	}
	if _, err := sm.compose(ctx, args...); err != nil {
		return err
	}
	states, err := sm.states(ctx)
	if err != nil {
		return err
	}
	want := map[string]int{"nats": 1, "redis": 1, "jaeger": 1, "gatekeeper": 2, "prefs": 1, "demo-producer": 1, "demo-sink": 1}
	if !sm.s.NoMonitor {
		want["prometheus"] = 1
	}
	healthy := map[string]int{}
	for _, c := range states {
		if c.State != "running" {
			return fmt.Errorf("%s is %s", c.Name, c.State)
		}
		if c.Health == "healthy" {
			healthy[c.Service]++
		} else if c.Service != "demo-producer" && c.Service != "demo-sink" {
			return fmt.Errorf("%s health %q", c.Name, c.Health)
		}
		want[c.Service]--
	}
	for svc, n := range want {
		if n != 0 {
			return fmt.Errorf("service %s: %d containers missing", svc, n)
		}
	}
	sm.logf("running: %d containers; healthy: %v", len(states), healthy)
	return nil
}

type containerState struct {
	ID, Name, Service, State, Health string
}

// states reads `docker compose ps --format json`: one object per line in
// recent Compose versions, an array in older ones.
func (sm *smoke) states(ctx context.Context) ([]containerState, error) {
	out, err := sm.compose(ctx, "ps", "--all", "--format", "json")
	if err != nil {
		return nil, err
	}
	out = strings.TrimSpace(out)
	var cs []containerState
	if strings.HasPrefix(out, "[") {
		err = json.Unmarshal([]byte(out), &cs)
		return cs, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		var c containerState
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, fmt.Errorf("compose ps: %w", err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func (sm *smoke) natsAs(user string, errs *natsErrors) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.UserInfo(user, sm.secrets["HUSH_NATS_"+strings.ToUpper(user)+"_PASSWORD"]), nats.Name("compose-smoke-" + user)}
	if errs != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs.add(err) }))
	}
	nc, err := nats.Connect("nats://127.0.0.1:"+sm.ports["HUSH_NATS_PORT"], opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect as %s: %w", user, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

type natsErrors struct {
	mu   sync.Mutex
	errs []string
}

func (e *natsErrors) add(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err.Error())
	e.mu.Unlock()
}

func (e *natsErrors) find(sub string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.errs {
		if strings.Contains(strings.ToLower(s), strings.ToLower(sub)) {
			return s
		}
	}
	return ""
}

// intentJSON is a transactional email intent for a customer of its own,
// which the default policy approves at any hour.
func intentJSON(id string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "customerId": "cust-" + id, "channel": "email", "category": "transactional",
		"destination": id + "@example.com", "sender": map[string]string{"service": "demo"},
	})
	return b
}

func publishIntent(ctx context.Context, js jetstream.JetStream, id, traceID string) error {
	m := nats.NewMsg("hush.intent.demo.email")
	m.Data = intentJSON(id)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set(nats.MsgIdHdr, id)
	if traceID != "" {
		m.Header.Set("traceparent", "00-"+traceID+"-"+randHex(8)+"-01")
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := js.PublishMsg(pctx, m)
	return err
}

func (sm *smoke) dispatched(ctx context.Context, id, traceID string) error {
	nc, js, err := sm.natsAs("producer", nil)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := publishIntent(ctx, js, id, traceID); err != nil {
		return fmt.Errorf("publish as producer: %w", err)
	}
	sm.logf("published %s as producer (trace %s)", id, traceID)
	return poll(ctx, time.Minute, func() (bool, error) {
		logs, err := sm.compose(ctx, "logs", "--no-log-prefix", "demo-sink")
		if err != nil {
			return false, err
		}
		for line := range strings.SplitSeq(logs, "\n") {
			if strings.Contains(line, `"msg":"would send"`) && strings.Contains(line, `"intent_id":"`+id+`"`) {
				sm.logf("demo-sink: %s", strings.TrimSpace(line))
				return true, nil
			}
		}
		return false, nil
	}, "the demo sink never logged "+id)
}

func (sm *smoke) producerCannotDispatch(ctx context.Context) error {
	var errs natsErrors
	nc, js, err := sm.natsAs("producer", &errs)
	if err != nil {
		return err
	}
	defer nc.Close()
	forged := "forged-" + randHex(6)
	m := nats.NewMsg("hush.dispatch.email")
	m.Data = intentJSON(forged)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set(nats.MsgIdHdr, forged)
	if err := nc.PublishMsg(m); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	// A JetStream publish gets no acknowledgement either.
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, jsErr := js.PublishMsg(pctx, m)
	cancel()
	if jsErr == nil {
		return errors.New("JetStream acknowledged the producer's dispatch")
	}
	var violation string
	if err := poll(ctx, 5*time.Second, func() (bool, error) {
		violation = errs.find(`permissions violation for publish to "hush.dispatch.email"`)
		return violation != "", nil
	}, "no permissions violation reported for hush.dispatch.email"); err != nil {
		return err
	}
	sm.logf("server: %s; JetStream: %v", violation, jsErr)
	ids, err := sm.streamIDs(ctx, "HUSH_DISPATCH")
	if err != nil {
		return err
	}
	if ids[forged] != 0 {
		return fmt.Errorf("the forged dispatch %s is in HUSH_DISPATCH", forged)
	}
	return nil
}

func (sm *smoke) prefsAPI(ctx context.Context) error {
	token, err := adminToken(sm.secrets["HUSH_PREFS_TOKENS"])
	if err != nil {
		return err
	}
	url := "http://127.0.0.1:" + sm.ports["HUSH_PREFS_PORT"] + "/v1/customers/cust-smoke/preferences"
	get := func(auth string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, strings.TrimSpace(string(body)), nil
	}
	code, body, err := get(token)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET with the admin token: %d %s", code, body)
	}
	sm.logf("with token: 200 %s", body)
	for _, auth := range []string{"", "not-a-token-0123456789abcdef"} {
		code, body, err := get(auth)
		if err != nil {
			return err
		}
		if code != http.StatusUnauthorized {
			return fmt.Errorf("GET with token %q: %d %s; want 401", auth, code, body)
		}
	}
	sm.logf("without a token, or with a wrong one: 401")
	return nil
}

// adminToken picks the token of an admin entry of HUSH_PREFS_TOKENS
// ("subject token scope...; ...").
func adminToken(entries string) (string, error) {
	for e := range strings.SplitSeq(entries, ";") {
		f := strings.Fields(e)
		if len(f) >= 3 && f[2] == "admin" {
			return f[1], nil
		}
	}
	return "", errors.New("HUSH_PREFS_TOKENS has no admin token")
}

func (sm *smoke) traced(ctx context.Context, traceID string) error {
	url := "http://127.0.0.1:" + sm.ports["HUSH_JAEGER_UI_PORT"] + "/api/traces/" + traceID
	var found []string
	return poll(ctx, 90*time.Second, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, nil
		}
		var tr struct {
			Data []struct {
				Spans []struct {
					OperationName string `json:"operationName"`
					ProcessID     string `json:"processID"`
				} `json:"spans"`
				Processes map[string]struct {
					ServiceName string `json:"serviceName"`
				} `json:"processes"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			return false, fmt.Errorf("jaeger answer: %w", err)
		}
		found = found[:0]
		ops := map[string]bool{}
		for _, t := range tr.Data {
			for _, s := range t.Spans {
				name := t.Processes[s.ProcessID].ServiceName + ": " + s.OperationName
				found = append(found, name)
				ops[name] = true
			}
		}
		if ops["hush-gatekeeper: hush.intent process"] && ops["hush-gatekeeper: hush.dispatch.email publish"] {
			sm.logf("trace %s: %s", traceID, strings.Join(found, ", "))
			return true, nil
		}
		return false, nil
	}, fmt.Sprintf("trace %s lacks the gatekeeper's spans (found %v)", traceID, found))
}

func (sm *smoke) killReplica(ctx context.Context) error {
	ids, err := sm.compose(ctx, "ps", "--quiet", "gatekeeper")
	if err != nil {
		return err
	}
	replicas := strings.Fields(ids)
	if len(replicas) != 2 {
		return fmt.Errorf("%d gatekeeper replicas, want 2", len(replicas))
	}
	victim := replicas[0]
	nc, js, err := sm.natsAs("producer", nil)
	if err != nil {
		return err
	}
	defer nc.Close()

	run := randHex(4)
	n := sm.s.KillIntents
	want := make([]string, n)
	var killedAt time.Duration
	t0 := time.Now()
	for i := range n {
		want[i] = fmt.Sprintf("smoke-kill-%s-%04d", run, i)
	}
	// The victim is paused first, so that its share of a burst of a third
	// of the intents reaches it (its pull requests are open) and is still
	// in hand when it is killed; the rest are published one by one after.
	burst := n / 3
	if _, err := sm.docker(ctx, "pause", victim); err != nil {
		return err
	}
	for _, id := range want[:burst] {
		m := nats.NewMsg("hush.intent.demo.email")
		m.Data = intentJSON(id)
		m.Header.Set("Content-Type", "application/json")
		m.Header.Set(nats.MsgIdHdr, id)
		if _, err := js.PublishMsgAsync(m); err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	// docker kill of a paused container kills it (SIGKILL, then thaw).
	if _, err := sm.docker(ctx, "kill", victim); err != nil {
		return err
	}
	killedAt = time.Since(t0)
	sm.logf("docker pause, a burst of %d intents, docker kill %.12s", burst, victim)
	for _, id := range want[burst:] {
		if err := publishIntent(ctx, js, id, ""); err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
	}
	sm.logf("published %d intents in %.1fs", n, time.Since(t0).Seconds())

	var dispatched, suppressed map[string]int
	var missing []string
	firstPoll := -1
	err = poll(ctx, 3*time.Minute, func() (bool, error) {
		if dispatched, err = sm.streamIDs(ctx, "HUSH_DISPATCH"); err != nil {
			return false, err
		}
		if suppressed, err = sm.streamIDs(ctx, "HUSH_SUPPRESSED"); err != nil {
			return false, err
		}
		missing = missing[:0]
		for _, id := range want {
			if dispatched[id] == 0 && suppressed[id] == 0 {
				missing = append(missing, id)
			}
		}
		if firstPoll < 0 {
			firstPoll = len(missing)
		}
		return len(missing) == 0, nil
	}, "")
	if err != nil {
		return fmt.Errorf("%d of %d intents never decided (first: %v): %w", len(missing), n, missing[:min(len(missing), 5)], err)
	}
	var nd, ns int
	for _, id := range want {
		if dispatched[id] > 1 || suppressed[id] > 1 || (dispatched[id] > 0 && suppressed[id] > 0) {
			return fmt.Errorf("%s decided twice: dispatched %d, suppressed %d", id, dispatched[id], suppressed[id])
		}
		nd += dispatched[id]
		ns += suppressed[id]
	}
	sm.logf("undecided when publishing ended: %d (the killed replica's in hand, redelivered after the ack wait)", firstPoll)
	sm.logf("all %d decided %.1fs after the kill: %d dispatched, %d suppressed, none twice", n, (time.Since(t0) - killedAt).Seconds(), nd, ns)

	// The killed replica comes back when started again.
	if _, err := sm.docker(ctx, "start", victim); err != nil {
		return err
	}
	t1 := time.Now()
	if err := poll(ctx, 2*time.Minute, func() (bool, error) {
		out, err := sm.docker(ctx, "inspect", "--format", "{{.State.Health.Status}}", victim)
		return strings.TrimSpace(out) == "healthy", err
	}, "the killed replica is not healthy again"); err != nil {
		return err
	}
	sm.logf("docker start %.12s: healthy again after %.1fs", victim, time.Since(t1).Seconds())
	return nil
}

// prometheus checks the monitoring profile's Prometheus: both gatekeeper
// replicas and the preferences service are scraped and up, the rule groups
// of deploy/prometheus/hush.rules.yml evaluate without error, and the
// recording rule behind the dashboard's first panel has data.
func (sm *smoke) prometheus(ctx context.Context) error {
	base := "http://127.0.0.1:" + sm.ports["HUSH_PROMETHEUS_PORT"]
	get := func(path string, v any) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var upByJob map[string]int
	if err := poll(ctx, 90*time.Second, func() (bool, error) {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Labels map[string]string `json:"labels"`
					Health string            `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := get("/api/v1/targets?state=active", &r); err != nil {
			return false, nil
		}
		upByJob = map[string]int{}
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health == "up" {
				upByJob[tg.Labels["job"]]++
			}
		}
		return upByJob["hush-gatekeeper"] == 2 && upByJob["hush-prefs"] == 1, nil
	}, "targets up by job: want hush-gatekeeper 2, hush-prefs 1"); err != nil {
		return fmt.Errorf("%w (got %v)", err, upByJob)
	}
	sm.logf("targets up: %v", upByJob)

	var groups []string
	if err := poll(ctx, time.Minute, func() (bool, error) {
		var r struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := get("/api/v1/rules", &r); err != nil {
			return false, err
		}
		groups = groups[:0]
		n := 0
		for _, g := range r.Data.Groups {
			groups = append(groups, g.Name)
			for _, rule := range g.Rules {
				if rule.Health == "err" {
					return false, fmt.Errorf("rule %s: %s", rule.Name, rule.LastError)
				}
				if rule.Health != "ok" {
					return false, nil
				}
				n++
			}
		}
		if len(groups) < 2 {
			return false, nil
		}
		sm.logf("rule groups %v: %d rules evaluated, all ok", groups, n)
		return true, nil
	}, "the rule groups were not evaluated"); err != nil {
		return err
	}

	return poll(ctx, 2*time.Minute, func() (bool, error) {
		var r struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  []any             `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := get("/api/v1/query?query=hush:decisions:rate5m", &r); err != nil {
			return false, err
		}
		if len(r.Data.Result) == 0 {
			return false, nil
		}
		var parts []string
		for _, x := range r.Data.Result {
			parts = append(parts, fmt.Sprintf("%s=%v", x.Metric["outcome"], x.Value[1]))
		}
		sm.logf("hush:decisions:rate5m: %s", strings.Join(parts, " "))
		return true, nil
	}, "hush:decisions:rate5m has no data")
}

// streamIDs reads a whole stream as admin and counts its messages by
// Nats-Msg-Id (the intent id on dispatches and suppressions).
func (sm *smoke) streamIDs(ctx context.Context, stream string) (map[string]int, error) {
	nc, js, err := sm.natsAs("admin", nil)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]int{}
	if info.State.Msgs == 0 {
		return ids, nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			ids[m.Headers().Get(nats.MsgIdHdr)]++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			if md.Sequence.Stream >= info.State.LastSeq {
				return ids, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if got == 0 {
			return ids, nil
		}
	}
}

func (sm *smoke) down(ctx context.Context) error {
	if _, err := sm.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "40"); err != nil {
		return err
	}
	label := "label=com.docker.compose.project=" + sm.s.Project
	var left []string
	for _, what := range [][]string{{"ps", "--all", "--quiet", "--filter", label}, {"volume", "ls", "--quiet", "--filter", label}, {"network", "ls", "--quiet", "--filter", label}} {
		out, err := sm.docker(ctx, what...)
		if err != nil {
			return err
		}
		if f := strings.Fields(out); len(f) > 0 {
			left = append(left, fmt.Sprintf("%s: %v", what[0], f))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, "; "))
	}
	sm.logf("no container, volume or network labelled %s", sm.s.Project)
	return nil
}

// diagnose prints what an operator would look at after a failure.
func (sm *smoke) diagnose() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := sm.compose(ctx, "ps", "--all"); err == nil {
		fmt.Fprintf(sm.out, "\n--- docker compose ps\n%s", out)
	}
	if out, err := sm.compose(ctx, "logs", "--tail", "15"); err == nil {
		fmt.Fprintf(sm.out, "--- docker compose logs --tail 15\n%s", out)
	}
}

// poll calls check every half second until it reports done, fails, or
// within passes.
func poll(ctx context.Context, within time.Duration, check func() (bool, error), what string) error {
	deadline := time.Now().Add(within)
	for {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			if what == "" {
				what = "timed out"
			}
			return fmt.Errorf("after %s: %s", within, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
