package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
)

func TestReloaderFollowsTheFileAndSignalsAndKeepsTheOldPolicyOnErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	doc := func(version string) []byte {
		return []byte("version: " + version + "\ncategories:\n  m: { class: marketing }\n")
	}
	if err := os.WriteFile(path, doc("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var applied []string
	current := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(applied) == 0 {
			return "v1"
		}
		return applied[len(applied)-1]
	}
	r := policy.Reloader{Path: path, Load: policy.LoadFile, Interval: 10 * time.Millisecond, Current: current,
		Apply: func(p *policy.Policy) {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, p.Version)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, signals) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for current() != want {
			if time.Now().After(deadline) {
				t.Fatalf("policy in force %q, want %q", current(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	time.Sleep(50 * time.Millisecond)
	if got := current(); got != "v1" {
		t.Fatalf("an unchanged file was reloaded: %q", got)
	}
	if err := os.WriteFile(path, doc("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("v2")

	// A bad file is rejected: v2 stays in force, even on a signal.
	if err := os.WriteFile(path, []byte("version: v3\ncategories:\n  m: { class: nonsense }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	signals <- os.Interrupt
	time.Sleep(50 * time.Millisecond)
	if got := current(); got != "v2" {
		t.Fatalf("a bad file replaced the policy: %q in force", got)
	}

	// Fixed, and reloaded by a signal before the poll sees it.
	if err := os.WriteFile(path, doc("v4"), 0o644); err != nil {
		t.Fatal(err)
	}
	signals <- os.Interrupt
	waitFor("v4")
	mu.Lock()
	defer mu.Unlock()
	if applied[0] != "v2" || slices.Contains(applied, "v3") {
		t.Errorf("applied %v; want v2, then v4 (the signal and the poll may both see it)", applied)
	}
}
