// Command mutate is Hush's mutation check: it breaks each invariant of the
// design on purpose, one named mutant at a time, and runs the tests that
// guard it. Every mutant must make a test fail; one that survives, or that
// no longer applies because the code moved, fails the run.
//
//	go run ./services/mutate            # every mutant, a table at the end
//	go run ./services/mutate --list     # the mutants and what they break
//	go run ./services/mutate --only replay-removed,ack-before-publish
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hush-oss/hush/internal/dev/mutate"
	"github.com/hush-oss/hush/internal/platform/config"
)

type settings struct {
	Only    string        `conf:"only" help:"comma-separated mutant names to run (default: all)"`
	List    bool          `conf:"list" default:"false" help:"list the mutants and exit"`
	JSON    bool          `conf:"json" default:"false" help:"print the results as JSON"`
	Root    string        `conf:"root" default:"." help:"the module root"`
	Timeout time.Duration `conf:"timeout" default:"10m" help:"bound on one mutant's test run"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var s settings
	if err := config.Parse("HUSH_MUTATE", &s, args, getenv, stdout); err != nil {
		return err
	}
	ms, err := selectMutants(mutate.Mutants, s.Only)
	if err != nil {
		return err
	}
	if s.List {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MUTANT\tFILE\tINVARIANT")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.File, m.Invariant)
		}
		return tw.Flush()
	}
	r := mutate.Runner{Root: s.Root, Env: os.Environ(), Timeout: s.Timeout, Progress: os.Stderr}
	results, runErr := r.Run(ctx, ms)
	if s.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
		return runErr
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MUTANT\tRESULT\tTIME\tFAILED TESTS")
	caught := 0
	for _, res := range results {
		verdict := "caught"
		if res.Caught {
			caught++
		} else {
			verdict = "SURVIVED"
		}
		detail := strings.Join(res.Failed, " ")
		if res.Error != "" {
			detail = res.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Name, verdict, res.Elapsed.Round(time.Second), detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d mutants caught\n", caught, len(results))
	return runErr
}

func selectMutants(all []mutate.Mutation, only string) ([]mutate.Mutation, error) {
	if only == "" {
		return all, nil
	}
	byName := map[string]mutate.Mutation{}
	for _, m := range all {
		byName[m.Name] = m
	}
	var out []mutate.Mutation
	for _, name := range strings.Split(only, ",") {
		m, ok := byName[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("--only: no mutant named %q (see --list)", name)
		}
		out = append(out, m)
	}
	return out, nil
}
