package deploy_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is what deploy/compose.env.example provides.
func composeEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("compose.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("compose.env.example: %q is not NAME=value", line)
		}
		if !strings.Contains(v, "dev-only") {
			t.Errorf("compose.env.example: %s must be marked dev-only", k)
		}
		env[k] = v
	}
	return env
}

func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("hush", true) })
}

func TestComposeFileDescribesTheWholeSystem(t *testing.T) {
	p, err := loadCompose(t, composeEnv(t))
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	root := p.WorkingDir

	want := []string{"demo-producer", "demo-sink", "gatekeeper", "jaeger", "nats", "prefs", "redis"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services %v, want %v", sorted(got), want)
	}
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// Published ports, on the loopback interface only.
	wantPorts := map[string][]string{
		"nats": {"4222", "8222"}, "redis": {"6379"}, "jaeger": {"16686", "4317"}, "prefs": {"8081"},
		"gatekeeper": nil, "demo-producer": nil, "demo-sink": nil,
	}
	for name, ports := range wantPorts {
		var got []string
		for _, pc := range svc(name).Ports {
			got = append(got, pc.Published)
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q; want 127.0.0.1 only", name, pc.Published, pc.HostIP)
			}
			if pc.Published != strconv.Itoa(int(pc.Target)) {
				t.Errorf("%s maps %s to %d", name, pc.Published, pc.Target)
			}
		}
		if !slices.Equal(sorted(got), sorted(ports)) {
			t.Errorf("%s publishes %v, want %v", name, got, ports)
		}
	}

	// Health checks on every long-running service.
	for _, name := range []string{"nats", "redis", "jaeger", "gatekeeper", "prefs"} {
		hc := svc(name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s has no health check", name)
			continue
		}
		if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
			t.Errorf("%s health check lacks interval, timeout or retries", name)
		}
	}
	if hc := svc("gatekeeper").HealthCheck; !strings.Contains(strings.Join(hc.Test, " "), "/readyz") {
		t.Errorf("gatekeeper health check %v: want /readyz (NATS, Redis, streams)", hc.Test)
	}

	// Two gatekeepers on one durable consumer, given time to drain.
	gk := svc("gatekeeper")
	if gk.Deploy == nil || gk.Deploy.Replicas == nil || *gk.Deploy.Replicas != 2 {
		t.Errorf("gatekeeper replicas %v, want 2", gk.Deploy)
	}
	if gk.StopGracePeriod == nil || time.Duration(*gk.StopGracePeriod) <= 25*time.Second {
		t.Errorf("gatekeeper stop_grace_period %v: want more than its 25s shutdown grace", gk.StopGracePeriod)
	}
	for _, dep := range []string{"nats", "redis"} {
		if d, ok := gk.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("gatekeeper must wait for %s to be healthy: %+v", dep, gk.DependsOn)
		}
	}
	if got := env(gk, "OTEL_EXPORTER_OTLP_ENDPOINT"); got != "http://jaeger:4317" {
		t.Errorf("gatekeeper OTLP endpoint %q", got)
	}
	if got := env(gk, "HUSH_REDIS_URL"); !strings.HasPrefix(got, "redis://hush:") {
		t.Errorf("gatekeeper must reach Redis as the hush ACL user, got %q", got)
	}

	// Who connects to NATS as whom: the users of deploy/nats/accounts.conf.
	for name, user := range map[string]string{"gatekeeper": "gatekeeper", "prefs": "prefs", "demo-producer": "producer", "demo-sink": "sink"} {
		if got := env(svc(name), "HUSH_NATS_USER"); got != user {
			t.Errorf("%s connects to NATS as %q, want %q", name, got, user)
		}
		if env(svc(name), "HUSH_NATS_PASSWORD") == "" {
			t.Errorf("%s has no NATS password", name)
		}
	}
	if got := env(svc("demo-sink"), "HUSH_NATS_INBOX_PREFIX"); got != "_HUSH_INBOX.sink" {
		t.Errorf("demo-sink inbox prefix %q: its permissions allow only _HUSH_INBOX.sink", got)
	}
	if c := svc("demo-producer").Command; !slices.Equal(c, types.ShellCommand{"produce"}) {
		t.Errorf("demo-producer command %v", c)
	}
	if c := svc("demo-sink").Command; !slices.Equal(c, types.ShellCommand{"sink"}) {
		t.Errorf("demo-sink command %v", c)
	}

	// NATS gets every password its config refers to.
	conf, err := os.ReadFile("nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range regexp.MustCompile(`\$(HUSH_[A-Z_]+)`).FindAllStringSubmatch(string(conf), -1) {
		if env(svc("nats"), ref[1]) == "" {
			t.Errorf("nats service lacks %s, which deploy/nats/accounts.conf needs", ref[1])
		}
	}
	if cmd := strings.Join(svc("nats").Command, " "); !strings.Contains(cmd, "/etc/nats/nats.conf") {
		t.Errorf("nats command %q does not load deploy/nats/nats.conf", cmd)
	}
	for _, k := range []string{"HUSH_REDIS_PASSWORD", "HUSH_REDIS_ADMIN_PASSWORD"} {
		if env(svc("redis"), k) == "" {
			t.Errorf("redis lacks %s", k)
		}
	}

	// Every file a service mounts, and every Dockerfile and target it
	// builds, exists.
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", s.Name, v.Source, err)
			}
		}
		if s.Build == nil {
			continue
		}
		df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
		stages := dockerStages(t, df)
		if !stages[s.Build.Target] {
			t.Errorf("%s builds target %q, not a stage of %s", s.Name, s.Build.Target, df)
		}
		if !strings.HasPrefix(s.Image, "hush/") {
			t.Errorf("%s image %q", s.Name, s.Image)
		}
		// Every HUSH_* variable is a setting of the binary the image runs.
		known := settingsOf(t, root, s.Build.Target)
		for k := range s.Environment {
			if strings.HasPrefix(k, "HUSH_") && !known[k] {
				t.Errorf("%s sets %s, which services/%s does not read", s.Name, k, s.Build.Target)
			}
		}
	}
	for _, path := range []string{"deploy/nats/nats.conf", "deploy/nats/accounts.conf", "deploy/redis/start.sh",
		"deploy/redis/render-acl.sh", "deploy/redis/users.acl.template", "deploy/redis/redis.conf", "deploy/policy/default.yaml"} {
		if _, err := os.Stat(filepath.Join(root, path)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	if e := svc("redis").Entrypoint; len(e) != 2 || e[1] != "/etc/hush/redis/start.sh" {
		t.Errorf("redis entrypoint %v: want deploy/redis/start.sh", e)
	}
}

func TestComposeNeedsEverySecretFromTheEnvironment(t *testing.T) {
	full := composeEnv(t)
	for k := range full {
		env := map[string]string{}
		for k2, v := range full {
			if k2 != k {
				env[k2] = v
			}
		}
		if _, err := loadCompose(t, env); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("docker-compose.yml loads without %s: %v", k, err)
		}
	}

	// And none is written in the file: a secret-looking variable always
	// comes from ${VAR:?...}.
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	secretKey := regexp.MustCompile(`^\s*([A-Z_]*(PASSWORD|TOKEN|SECRET|KEYS?)[A-Z_]*):\s*(.*)$`)
	for i, line := range strings.Split(string(raw), "\n") {
		m := secretKey.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !regexp.MustCompile(`\$\{[A-Z_]+:\?`).MatchString(m[3]) {
			t.Errorf("docker-compose.yml:%d: %s is not taken from a required variable: %s", i+1, m[1], strings.TrimSpace(line))
		}
	}
	if regexp.MustCompile(`redis://[^$\s]*:[^$\s{]+@`).Match(raw) {
		t.Error("docker-compose.yml holds a Redis URL with a literal password")
	}
}

func TestDockerfileBuildsStaticNonRootImagesWithHealthChecks(t *testing.T) {
	raw, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	stages := dockerStages(t, "docker/Dockerfile")
	for _, target := range []string{"gatekeeper", "prefs", "hushctl", "demo"} {
		if !stages[target] {
			t.Errorf("no %s target", target)
		}
		if !strings.Contains(text, "./services/"+target) {
			t.Errorf("no build of ./services/%s", target)
		}
		if _, err := os.Stat("../services/" + target + "/main.go"); err != nil {
			t.Errorf("target %s builds a command that does not exist: %v", target, err)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "distroless/static", ":nonroot", "USER 65532:65532", `"/probe", "http://127.0.0.1:8080/healthz"`, `"/probe", "http://127.0.0.1:8081/healthz"`} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if _, err := os.Stat("docker/probe/main.go"); err != nil {
		t.Errorf("the health-check probe: %v", err)
	}
	// Time zones: the service binaries embed them (the policy's quiet hours
	// read customers' zones), so the image needs no tzdata of its own.
	for _, main := range []string{"../services/gatekeeper/main.go"} {
		b, err := os.ReadFile(main)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `_ "time/tzdata"`) {
			t.Errorf("%s does not embed time/tzdata", main)
		}
	}
}

// dockerStages returns the stage names of a Dockerfile.
func dockerStages(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	stages := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?mi)^FROM\s+\S+\s+AS\s+(\S+)\s*$`).FindAllStringSubmatch(string(raw), -1) {
		stages[m[1]] = true
	}
	return stages
}

func env(s types.ServiceConfig, k string) string {
	if v, ok := s.Environment[k]; ok && v != nil {
		return *v
	}
	return ""
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestComposeHostPortsAreVariables: a host where 4222 or 6379 is taken
// runs the stack with other host ports; the containers keep theirs.
func TestComposeHostPortsAreVariables(t *testing.T) {
	vars := composeEnv(t)
	moved := map[string]struct {
		variable, port string
		target         uint32
	}{
		"nats":       {"HUSH_NATS_PORT", "14222", 4222},
		"redis":      {"HUSH_REDIS_PORT", "16379", 6379},
		"jaeger":     {"HUSH_JAEGER_UI_PORT", "26686", 16686},
		"prefs":      {"HUSH_PREFS_PORT", "18081", 8081},
		"nats-mon":   {"HUSH_NATS_MONITOR_PORT", "18222", 8222},
		"jaeger-otl": {"HUSH_OTLP_PORT", "14317", 4317},
	}
	for _, m := range moved {
		vars[m.variable] = m.port
	}
	p, err := loadCompose(t, vars)
	if err != nil {
		t.Fatal(err)
	}
	published := map[uint32]string{}
	for _, s := range p.Services {
		for _, pc := range s.Ports {
			published[pc.Target] = pc.Published
		}
	}
	for _, m := range moved {
		if published[m.target] != m.port {
			t.Errorf("%s=%s: container port %d published on %q", m.variable, m.port, m.target, published[m.target])
		}
	}
	prefs, err := p.GetService("prefs")
	if err != nil {
		t.Fatal(err)
	}
	if got := env(prefs, "HUSH_PUBLIC_URL"); got != "http://127.0.0.1:18081" {
		t.Errorf("prefs public URL %q: its links must use the published port", got)
	}
}
