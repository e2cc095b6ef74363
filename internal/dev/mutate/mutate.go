// Package mutate proves that Hush's tests can fail: it applies named,
// deliberate breaks of the code (mutants) one at a time and runs the tests
// that guard the broken invariant, which must then fail.
//
// A mutant never touches the working tree: the runner copies the module's
// files (those git tracks, plus untracked ones it does not ignore) to a
// private directory once, breaks one file there, runs the tests there and
// puts the file back. Any file can be broken that way: Go code, the embedded
// Lua scripts, and the NATS and Redis configurations tests read at run time.
package mutate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Mutation is one deliberate break of an invariant.
type Mutation struct {
	// Name identifies the mutant ("replay-removed").
	Name string
	// Invariant is the design invariant the break violates, in words.
	Invariant string
	// File is the path, from the module root, of the file to break.
	File string
	// Find is a snippet that must occur exactly once in File; Replace takes
	// its place. A snippet that is missing or ambiguous fails the run, so a
	// refactor cannot silently retire a mutant.
	Find, Replace string
	// Packages are the package patterns whose tests must catch the break.
	Packages []string
	// Run is the -run pattern; empty runs every test of Packages.
	Run string
	// Race runs the tests under the race detector.
	Race bool
}

// Result is what happened to one mutant.
type Result struct {
	Name      string        `json:"name"`
	Invariant string        `json:"invariant"`
	File      string        `json:"file"`
	Caught    bool          `json:"caught"`
	Error     string        `json:"error,omitempty"`
	Failed    []string      `json:"failed_tests,omitempty"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// ErrSurvived is returned by Run when a mutant was not caught, or could not
// be applied.
var ErrSurvived = errors.New("mutants survived")

// Runner applies mutants under Root, the module root.
type Runner struct {
	Root string
	// Go is the go command ("go").
	Go string
	// Env is the environment of the test runs (os.Environ()).
	Env []string
	// Timeout bounds one mutant's test run (10m).
	Timeout time.Duration
	// Progress receives one line per mutant as it starts and ends.
	Progress io.Writer
}

// Apply returns src with m.Find replaced by m.Replace, or an error when the
// snippet does not occur exactly once.
func Apply(src []byte, m Mutation) ([]byte, error) {
	switch n := bytes.Count(src, []byte(m.Find)); n {
	case 1:
		return bytes.Replace(src, []byte(m.Find), []byte(m.Replace), 1), nil
	case 0:
		return nil, fmt.Errorf("mutant %s: snippet not found in %s (the code moved: update the mutant)", m.Name, m.File)
	default:
		return nil, fmt.Errorf("mutant %s: snippet occurs %d times in %s (make it unique)", m.Name, n, m.File)
	}
}

// Run applies each mutant in turn and reports whether the tests caught it.
// It returns ErrSurvived when any mutant survived or could not be applied.
func (r Runner) Run(ctx context.Context, ms []Mutation) ([]Result, error) {
	if r.Go == "" {
		r.Go = "go"
	}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Minute
	}
	if r.Progress == nil {
		r.Progress = io.Discard
	}
	tmp, err := os.MkdirTemp("", "hush-mutate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(r.Progress, "copying the module to %s\n", tmp)
	if err := copyModule(ctx, r.Root, tmp); err != nil {
		return nil, err
	}

	var results []Result
	survived := false
	for i, m := range ms {
		fmt.Fprintf(r.Progress, "[%d/%d] %s (%s) ...\n", i+1, len(ms), m.Name, m.File)
		res := r.one(ctx, tmp, m)
		status := "caught"
		if !res.Caught {
			status, survived = "SURVIVED", true
		}
		if res.Error != "" {
			status += ": " + res.Error
		}
		fmt.Fprintf(r.Progress, "[%d/%d] %s %s in %s\n", i+1, len(ms), m.Name, status, res.Elapsed.Round(time.Second))
		results = append(results, res)
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	if survived {
		return results, ErrSurvived
	}
	return results, nil
}

func (r Runner) one(ctx context.Context, tmp string, m Mutation) (res Result) {
	res = Result{Name: m.Name, Invariant: m.Invariant, File: m.File}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()

	path := filepath.Join(tmp, m.File)
	src, err := os.ReadFile(path)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	mutated, err := Apply(src, m)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		res.Error = err.Error()
		return res
	}
	defer os.WriteFile(path, src, 0o644)

	args := []string{"test", "-count=1", "-failfast"}
	if m.Race {
		args = append(args, "-race")
	}
	if m.Run != "" {
		args = append(args, "-run", m.Run)
	}
	args = append(args, m.Packages...)
	tctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, r.Go, args...)
	cmd.Dir = tmp
	cmd.Env = append(withoutCI(r.Env), "CI=true")
	out, err := cmd.CombinedOutput()
	res.Failed = failedTests(out)
	var exit *exec.ExitError
	switch {
	case err == nil:
		// Every test passed with the code broken: the mutant survived.
	case errors.As(err, &exit) && len(res.Failed) > 0:
		res.Caught = true
	case errors.As(err, &exit) && bytes.Contains(out, []byte("[build failed]")):
		res.Error = "the mutant does not compile: " + firstLines(out, 5)
	case errors.As(err, &exit):
		// A panic or a timeout inside the test binary also fails the run.
		res.Caught = true
		res.Failed = []string{"(test binary failed: " + firstLines(out, 2) + ")"}
	default:
		res.Error = err.Error()
	}
	return res
}

// copyModule copies the files git knows of (tracked, or untracked and not
// ignored) from root to dst.
func copyModule(ctx context.Context, root, dst string) error {
	cmd := exec.CommandContext(ctx, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("list module files: %w", err)
	}
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" {
			continue
		}
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or not a plain file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func withoutCI(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "CI=") {
			out = append(out, kv)
		}
	}
	return out
}

// failedTests lists the top-level tests that `go test` reported as failed.
func failedTests(out []byte) []string {
	var names []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "--- FAIL: ") {
			continue
		}
		name := strings.Fields(strings.TrimPrefix(line, "--- FAIL: "))[0]
		if i := strings.IndexByte(name, '/'); i > 0 {
			name = name[:i]
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

func firstLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}
