//go:build promtool

package deploy_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPrometheusRulesPassPromtool runs promtool on the rules, their unit
// tests and the configuration. Building promtool takes minutes, so the test
// is built only with the promtool tag: `make check-rules` (and
// `make compose-smoke`) builds promtool once and sets HUSH_PROMTOOL.
func TestPrometheusRulesPassPromtool(t *testing.T) {
	promtool := os.Getenv("HUSH_PROMTOOL")
	if promtool == "" {
		t.Fatal("HUSH_PROMTOOL is not set: run make check-rules, which builds promtool")
	}
	for _, args := range [][]string{
		{"check", "rules", "hush.rules.yml"},
		{"test", "rules", "hush.rules.test.yml"},
		{"check", "config", "--syntax-only", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	}
}
