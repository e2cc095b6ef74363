package mutate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyReplacesExactlyOneSnippet(t *testing.T) {
	tests := []struct {
		name, src, find string
		want            string
		wantErr         string
	}{
		{name: "once", src: "a b c", find: "b", want: "a X c"},
		{name: "missing", src: "a b c", find: "z", wantErr: "snippet not found"},
		{name: "ambiguous", src: "b b", find: "b", wantErr: "occurs 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply([]byte(tt.src), Mutation{Name: "m", File: "f", Find: tt.find, Replace: "X"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("Apply = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFailedTestsNamesTopLevelTests(t *testing.T) {
	out := "=== RUN TestA\n--- FAIL: TestA (0.1s)\n    --- FAIL: TestA/sub (0.0s)\n--- PASS: TestB\n--- FAIL: TestC (2s)\n"
	got := strings.Join(failedTests([]byte(out)), ",")
	if got != "TestA,TestC" {
		t.Fatalf("failedTests = %q", got)
	}
}

// Every mutant must still apply to today's code: a refactor that moves a
// snippet fails here, in make test, not only in the long make mutate.
func TestEveryMutantAppliesToTheCode(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	seen := map[string]bool{}
	for _, m := range Mutants {
		if seen[m.Name] {
			t.Errorf("two mutants named %s", m.Name)
		}
		seen[m.Name] = true
		if m.Invariant == "" || len(m.Packages) == 0 {
			t.Errorf("%s: needs an invariant and the packages whose tests catch it", m.Name)
		}
		src, err := os.ReadFile(filepath.Join(root, m.File))
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		if _, err := Apply(src, m); err != nil {
			t.Error(err)
		}
	}
}
