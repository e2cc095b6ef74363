// Command hushctl is the operator's tool: read and change customers'
// preferences, read the consent history and rebuild Redis from it, explain a
// decision, search the suppression log, inspect counters and the health of
// Hush's streams.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones without the host's tzdata

	"github.com/hush-oss/hush/internal/platform/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "hushctl:", err)
		os.Exit(1)
	}
}

// command is one subcommand: its usage line, what it does, and its run.
type command struct {
	usage, summary string
	run            func(a *app, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"prefs get":          {"prefs get <customer>", "show a customer's preferences", prefsGet},
		"prefs set":          {"prefs set <customer> [flags]", "change a customer's preferences (recorded in the consent history)", prefsSet},
		"prefs history":      {"prefs history [<customer>] [--since 24h]", "show the consent history (reads the PREFS stream)", prefsHistory},
		"prefs rebuild":      {"prefs rebuild", "restore preferences in Redis from the consent history", prefsRebuild},
		"mode":               {"mode <customer> <normal|essential_only|do_nothing> [--until T]", "set a customer's mode", modeCmd},
		"care-hold set":      {"care-hold set <customer> --reason R [--until T]", "pause contacts for a customer (bereavement, hardship)", careHoldSet},
		"care-hold clear":    {"care-hold clear <customer>", "lift a customer's care hold", careHoldClear},
		"explain":            {"explain <intent-id> [--customer C]", "the recorded decision with every reason and the counters behind it", explain},
		"suppressions tail":  {"suppressions tail [--customer C] [--channel X] [--reason R] [--limit N] [--follow]", "the latest suppressions", suppressionsTail},
		"suppressions query": {"suppressions query [--customer C] [--channel X] [--reason R] [--since T] [--until T]", "search the suppression log", suppressionsQuery},
		"counters":           {"counters <customer> [--at T]", "a customer's rolling windows and what remains", counters},
		"streams":            {"streams", "health of Hush's streams and consumer lag", streams},
		"deferred list":      {"deferred list <customer>", "a customer's deferred intents and when they are released", deferredList},
		"deferred cancel":    {"deferred cancel <customer> <intent-id>", "cancel a deferral: the intent is suppressed, never released", deferredCancel},
	}
}

func usage() string {
	var b strings.Builder
	b.WriteString("Usage: hushctl <command> [arguments] [flags]\n\nCommands:\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %s\n        %s\n", cmds[n].usage, cmds[n].summary)
	}
	b.WriteString("\nEvery command takes --json for machine-readable output and --help.\n" +
		"Connections: --nats-url, --redis-url, --prefix (or HUSH_NATS_URL, HUSH_REDIS_URL, HUSH_PREFIX).\n")
	return b.String()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return execute(ctx, args, getenv, stdout, stderr, time.Now)
}

// execute runs one command; tests fix the clock.
func execute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, now func() time.Time) error {
	cmds := commands()
	var name string
	var cmd command
	switch {
	case len(args) >= 2 && cmds[args[0]+" "+args[1]].run != nil:
		name, cmd, args = args[0]+" "+args[1], cmds[args[0]+" "+args[1]], args[2:]
	case len(args) >= 1 && cmds[args[0]].run != nil:
		name, cmd, args = args[0], cmds[args[0]], args[1:]
	case len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h":
		io.WriteString(stdout, usage())
		return config.ErrHelp
	default:
		io.WriteString(stderr, usage())
		return fmt.Errorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
	}
	a := &app{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr, now: now, name: name, usage: cmd.usage}
	defer a.close()
	return cmd.run(a, args)
}
