package prefsapi_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hush-oss/hush/internal/dev/testenv"
)

// npmDir is the folder whose package.json pins the Node tools the tests
// run; `make test-deps` installs them there with npm ci.
func npmDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "tools", "npm")
}

// repoRoot is the folder of go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

// npmTool returns the path of an installed Node tool (a name in
// node_modules/.bin, or a file under node_modules); without it the test is
// skipped, or fails under CI=true.
func npmTool(t *testing.T, rel string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node is not installed (Debian: apt-get install nodejs npm)")
	}
	p := filepath.Join(npmDir(t), "node_modules", rel)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, rel+" is not installed: run `make test-deps` (npm ci in tools/npm)")
	}
	return p
}

// nodeCmd runs a Node tool with the telemetry and update checks of the
// tools switched off: tests make no calls beyond the machine.
func nodeCmd(t *testing.T, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true",
		"NO_UPDATE_NOTIFIER=1", "NODE_NO_WARNINGS=1")
	return cmd
}
