package deploy_test

import (
	"context"
	"encoding/json"
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
	"gopkg.in/yaml.v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record      string
			Alert       string
			Expr        string
			For         string
			Labels      map[string]string
			Annotations map[string]string
		}
	}
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile("prometheus/hush.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("prometheus/hush.rules.yml: %v", err)
	}
	if len(rf.Groups) == 0 {
		t.Fatal("prometheus/hush.rules.yml has no groups")
	}
	return rf
}

// TestPrometheusRulesAreTheDashboardsQueries: every panel of the Grafana
// dashboard has its recording rule (the same query over 5m), every metric a
// rule reads is one Hush exports, and every alert says what and how bad.
func TestPrometheusRulesAreTheDashboardsQueries(t *testing.T) {
	rf := loadRules(t)
	records := map[string]string{} // expr -> record
	recorded := map[string]bool{}
	type alert struct{ name, expr string }
	var alerts []alert
	var exprs []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			switch {
			case r.Record != "" && r.Alert == "":
				if !regexp.MustCompile(`^hush:[a-z_]+:[a-z0-9_]+$`).MatchString(r.Record) {
					t.Errorf("recording rule %q: want hush:<what>:<how> (Prometheus's level:metric:operations)", r.Record)
				}
				if recorded[r.Record] {
					t.Errorf("recording rule %s defined twice", r.Record)
				}
				recorded[r.Record] = true
				records[r.Expr] = r.Record
			case r.Alert != "" && r.Record == "":
				alerts = append(alerts, alert{r.Alert, r.Expr})
				if !slices.Contains([]string{"page", "ticket", "info"}, r.Labels["severity"]) {
					t.Errorf("alert %s severity %q: want page, ticket or info", r.Alert, r.Labels["severity"])
				}
				if r.Annotations["summary"] == "" {
					t.Errorf("alert %s has no summary", r.Alert)
				}
				if r.For != "" {
					if _, err := time.ParseDuration(r.For); err != nil {
						t.Errorf("alert %s for: %v", r.Alert, err)
					}
				}
			default:
				t.Errorf("rule %+v is neither a recording rule nor an alert", r)
			}
		}
	}

	// The dashboard's queries, with Grafana's $__rate_interval as 5m.
	raw, err := os.ReadFile("grafana/hush.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct{ Panels []panel }
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				q := strings.ReplaceAll(tg.Expr, "$__rate_interval", "5m")
				if records[q] == "" {
					t.Errorf("panel %q: no recording rule for %s", p.Title, q)
				}
			}
		}
	}
	walk(dash.Panels)

	// Alerts read recording rules that exist, or raw series Hush exports.
	for _, a := range alerts {
		for _, m := range regexp.MustCompile(`\bhush:[a-z_]+:[a-z0-9_]+\b`).FindAllString(a.expr, -1) {
			if !recorded[m] {
				t.Errorf("alert %s reads %s, which no rule records", a.name, m)
			}
		}
	}
	names := exportedMetrics(t)
	for _, e := range exprs {
		for _, n := range regexp.MustCompile(`\bhush_[a-z_]+\b`).FindAllString(e, -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && names[b] {
					base = b
				}
			}
			if !names[base] {
				t.Errorf("a rule reads %s, which Hush does not export: %s", n, e)
			}
		}
	}
}

// TestPrometheusScrapesEveryHushService loads the compose file with the
// monitoring profile: Prometheus scrapes every service that serves
// /metrics, on the port that service listens on, and Grafana is
// provisioned with the dashboard and a Prometheus data source.
func TestPrometheusScrapesEveryHushService(t *testing.T) {
	raw, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string
				Type  string
				Port  int
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.RuleFiles, "hush.rules.yml") {
		t.Errorf("rule_files %v: want hush.rules.yml", cfg.RuleFiles)
	}
	scraped := map[string]string{} // service -> port
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, port, _ := strings.Cut(tg, ":")
				scraped[host] = port
			}
		}
		for _, d := range sc.DNSSDConfigs {
			if d.Type != "A" {
				t.Errorf("job %s: DNS type %q; want A (one address per replica)", sc.JobName, d.Type)
			}
			for _, n := range d.Names {
				scraped[n] = strconv.Itoa(d.Port)
			}
		}
	}

	p := loadMonitoring(t)
	listen := map[string]string{"gatekeeper": "HUSH_HTTP_ADDR", "prefs": "HUSH_LISTEN"}
	for svc, setting := range listen {
		s, err := p.GetService(svc)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := strings.Cut(env(s, setting), ":")
		if port == "" || scraped[svc] != port {
			t.Errorf("%s serves /metrics on %q (%s); Prometheus scrapes it on %q", svc, port, setting, scraped[svc])
		}
	}

	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatalf("the monitoring profile has no prometheus: %v", err)
	}
	graf, err := p.GetService("grafana")
	if err != nil {
		t.Fatalf("the monitoring profile has no grafana: %v", err)
	}
	for _, s := range []types.ServiceConfig{prom, graf} {
		if !slices.Equal(s.Profiles, []string{"monitoring"}) {
			t.Errorf("%s profiles %v: want [monitoring] only (optional)", s.Name, s.Profiles)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 {
			t.Errorf("%s has no health check", s.Name)
		}
		for _, pc := range s.Ports {
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q; want 127.0.0.1 only", s.Name, pc.Published, pc.HostIP)
			}
		}
	}
	mounts := func(s types.ServiceConfig) map[string]string {
		m := map[string]string{}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				rel, _ := filepath.Rel(p.WorkingDir, v.Source)
				m[v.Target] = rel
			}
		}
		return m
	}
	if got := mounts(prom)["/etc/prometheus"]; got != "deploy/prometheus" {
		t.Errorf("prometheus mounts %q at /etc/prometheus; want deploy/prometheus", got)
	}
	gm := mounts(graf)
	if gm["/etc/grafana/provisioning"] != "deploy/grafana/provisioning" || gm["/etc/hush/dashboards/hush.json"] != "deploy/grafana/hush.json" {
		t.Errorf("grafana mounts %v", gm)
	}

	// The provisioning points at those paths and that Prometheus.
	var dsp struct {
		Datasources []struct{ Type, URL string }
	}
	readYAML(t, "grafana/provisioning/datasources/prometheus.yml", &dsp)
	if len(dsp.Datasources) != 1 || dsp.Datasources[0].Type != "prometheus" || dsp.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("grafana data sources %+v", dsp.Datasources)
	}
	var dbp struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}
	readYAML(t, "grafana/provisioning/dashboards/hush.yml", &dbp)
	if len(dbp.Providers) != 1 || dbp.Providers[0].Options.Path != "/etc/hush/dashboards" {
		t.Errorf("grafana dashboard providers %+v", dbp.Providers)
	}
}

func loadMonitoring(t *testing.T) *types.Project {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: composeEnv(t),
	}, func(o *loader.Options) {
		o.SetProjectName("hush", true)
		o.Profiles = []string{"monitoring"}
	})
	if err != nil {
		t.Fatalf("load docker-compose.yml with the monitoring profile: %v", err)
	}
	return p
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
