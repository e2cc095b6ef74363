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
	"reflect"
	"slices"
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
		os.Exit(exitCode(err))
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
		"deadletters list":   {"deadletters list [--stage S] [--since T] [--limit N]", "the latest dead letters: what was wrong and what to change", deadLettersList},
		"deadletters show":   {"deadletters show <seq>", "one dead letter, decoded, with its error and a hint", deadLettersShow},
		"deferred cancel":    {"deferred cancel <customer> <intent-id>", "cancel a deferral: the intent is suppressed, never released", deferredCancel},
		"report pressure":    {"report pressure [--since 30d] [--until T] [--limit N]", "who pushes hardest: attempts, suppressions and unsolicited contacts per service and agent", reportPressure},
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
		"Connections: --nats-url, --redis-url, --prefix (or HUSH_NATS_URL, HUSH_REDIS_URL, HUSH_PREFIX),\n" +
		"before or after the command. `make run` prints the lines that point hushctl at it.\n" +
		"\nExit codes:\n" +
		"  0  done\n" +
		"  1  error (a refused flag, a failed change)\n" +
		"  3  no record: Hush holds nothing about the customer, intent or dead letter asked for\n" +
		"  4  wrong place: NATS or Redis unreachable, or holding no Hush streams or keys\n")
	return b.String()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return execute(ctx, args, getenv, stdout, stderr, time.Now)
}

// execute runs one command; tests fix the clock.
func execute(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, now func() time.Time) error {
	cmds := commands()
	args = globalFlagsLast(args)
	var name string
	var cmd command
	if len(args) >= 1 && isGroup(cmds, args[0]) && (len(args) == 1 || isHelp(args[1])) {
		// "hushctl prefs" or "hushctl prefs --help": the group's commands.
		io.WriteString(stdout, groupUsage(cmds, args[0]))
		if len(args) == 1 {
			return fmt.Errorf("%s needs a command (see above)", args[0])
		}
		return config.ErrHelp
	}
	switch {
	case len(args) >= 2 && cmds[args[0]+" "+args[1]].run != nil:
		name, cmd, args = args[0]+" "+args[1], cmds[args[0]+" "+args[1]], args[2:]
	case len(args) >= 1 && cmds[args[0]].run != nil:
		name, cmd, args = args[0], cmds[args[0]], args[1:]
	case len(args) == 0 || args[0] == "help" || isHelp(args[0]):
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

func isHelp(a string) bool { return a == "--help" || a == "-help" || a == "-h" }

// isGroup tells a word that starts two-word commands ("prefs", "deferred").
func isGroup(cmds map[string]command, word string) bool {
	for n := range cmds {
		if strings.HasPrefix(n, word+" ") {
			return true
		}
	}
	return false
}

// groupUsage lists the commands of a group.
func groupUsage(cmds map[string]command, group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: hushctl %s <command> [arguments] [flags]\n\nCommands:\n", group)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		if strings.HasPrefix(n, group+" ") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %s\n        %s\n", cmds[n].usage, cmds[n].summary)
	}
	b.WriteString("\nhushctl " + group + " <command> --help shows a command's flags.\n")
	return b.String()
}

// globalFlagsLast moves the shared flags given before the command
// ("hushctl --json --nats-url X prefs get c-1") after it, where every
// command reads them.
func globalFlagsLast(args []string) []string {
	var global []string
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" && args[i] != "--" && !isHelp(args[i]) {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		f, ok := confField(&common{}, name)
		if !ok {
			break // an unknown flag: the command's parser reports it
		}
		global = append(global, args[i])
		i++
		if !hasValue && f.Kind() != reflect.Bool && i < len(args) {
			global = append(global, args[i])
			i++
		}
	}
	if len(global) == 0 {
		return args
	}
	return append(slices.Clone(args[i:]), global...)
}
