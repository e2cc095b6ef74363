// Command hushdev is `make run`: the whole of Hush on one machine, on
// embedded defaults. It starts an in-process NATS server with JetStream and a
// private redis-server (or uses HUSH_NATS_URL / HUSH_REDIS_URL), runs the
// gatekeeper, publishes a demo workload and prints a live tally of outcomes
// until Ctrl-C, then shuts everything down.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/sync/errgroup"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/demo"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/platform/config"
	"github.com/hush-oss/hush/internal/platform/connect"
)

type settings struct {
	NATSURL  string        `conf:"nats-url" help:"use this NATS server instead of starting one in-process"`
	NATSPort int           `conf:"nats-port" default:"4222" help:"port for the in-process NATS server (a free one when taken)"`
	RedisURL string        `conf:"redis-url" help:"use this Redis instead of starting a private redis-server"`
	Policy   string        `conf:"policy" help:"policy file; empty: the embedded deploy/policy/default.yaml"`
	StateDir string        `conf:"state-dir" help:"keep NATS and Redis data here; empty: a temporary directory removed on exit"`
	Burst    int           `conf:"demo-burst" default:"200" help:"demo intents published at start"`
	Rate     float64       `conf:"demo-rate" default:"5" help:"demo intents per second after the burst (0: none)"`
	Every    time.Duration `conf:"summary-every" default:"1s" help:"how often the tally is printed (when it changed)"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "hushdev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var s settings
	if err := config.Parse("HUSH", &s, args, getenv, stdout); err != nil {
		return err
	}
	dir := s.StateDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "hush-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "gatekeeper.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, nil)).With("service", "gatekeeper")

	pol, err := policy.LoadOrDefault(s.Policy)
	if err != nil {
		return err
	}
	policyName := s.Policy
	if policyName == "" {
		policyName = "deploy/policy/default.yaml (embedded)"
	}

	natsURL, natsNote := s.NATSURL, "given by HUSH_NATS_URL"
	if natsURL == "" {
		port := s.NATSPort
		if !localsrv.PortFree("127.0.0.1", port) {
			port = server.RANDOM_PORT
		}
		ns, err := localsrv.StartNATS(localsrv.NATSOptions{Port: port, StoreDir: filepath.Join(dir, "nats")})
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		natsURL = ns.ClientURL()
		natsNote = "in-process nats-server " + server.VERSION + ", JetStream in " + filepath.Join(dir, "nats")
		if port == server.RANDOM_PORT {
			natsNote += fmt.Sprintf("; port %d was taken", s.NATSPort)
		}
	}
	redisURL, redisNote := s.RedisURL, "given by HUSH_REDIS_URL"
	if redisURL == "" {
		rs, err := localsrv.StartRedis(ctx, localsrv.RedisOptions{Dir: filepath.Join(dir, "redis"), AppendOnly: true})
		if errors.Is(err, localsrv.ErrNoRedisServer) {
			return fmt.Errorf("%w: install it (sudo apt-get install redis-server; `make run` does so as root) or set HUSH_REDIS_URL", err)
		}
		if err != nil {
			return err
		}
		defer rs.Stop()
		redisURL, redisNote = rs.URL, "private redis-server, AOF in "+filepath.Join(dir, "redis")
	}

	nc, js, err := connect.NATS(natsURL, connect.NATSOptions{Name: "hushdev", Logger: log})
	if err != nil {
		return err
	}
	defer nc.Close()
	rdb, err := connect.Redis(ctx, redisURL, 72)
	if err != nil {
		return err
	}
	defer rdb.Close()
	subjects := bus.NewSubjects("")
	if err := subjects.EnsureStreams(ctx, js, bus.DefaultStreamOptions()); err != nil {
		return err
	}
	st := store.New(rdb, bus.DefaultPrefix)
	if err := demo.Seed(ctx, st); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Hush is running.\n")
	fmt.Fprintf(stdout, "  NATS    %s  (%s)\n", natsURL, natsNote)
	fmt.Fprintf(stdout, "  Redis   %s  (%s)\n", config.MaskURL(redisURL), redisNote)
	fmt.Fprintf(stdout, "  Policy  %s, version %s\n", policyName, pol.Version)
	fmt.Fprintf(stdout, "  Logs    %s (one line per suppression)\n", logPath)
	envPath := filepath.Join(dir, "hushctl.env")
	env := hushctlEnv(natsURL, redisURL, bus.DefaultPrefix)
	if err := os.WriteFile(envPath, []byte(env), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Point hushctl at this Hush (or: source %s):\n", envPath)
	for line := range strings.Lines(env) {
		if strings.HasPrefix(line, "export HUSH_REDIS_URL=") && config.MaskURL(redisURL) != redisURL {
			line = "export HUSH_REDIS_URL=" + config.MaskURL(redisURL) + "   # password in " + envPath + "\n"
		}
		fmt.Fprintf(stdout, "  %s", line)
	}
	fmt.Fprintf(stdout, "Publish your own intent from any NATS client, e.g.:\n")
	fmt.Fprintf(stdout, "  nats -s %s pub hush.intent.email -H Content-Type:application/json \\\n", natsURL)
	fmt.Fprintf(stdout, "    '{\"id\":\"hello-1\",\"customerId\":\"cust-07\",\"channel\":\"email\",\"category\":\"marketing\",\"sender\":{\"service\":\"me\"}}'\n")
	fmt.Fprintf(stdout, "Demo: %d intents over %d customers now, then %.0f/s. Ctrl-C stops everything.\n\n", s.Burst, demo.Customers, s.Rate)

	gk := gatekeeper.New(js, st, pol, gatekeeper.Options{Subjects: subjects, Logger: log})
	tally := demo.NewTally()
	if err := tally.Follow(ctx, js, subjects); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gk.Run(gctx) })
	g.Go(func() error { return gk.RunInbound(gctx) })
	g.Go(func() error {
		_, err := demo.Produce(gctx, js, subjects, demo.NewGenerator(uint64(time.Now().UnixNano())),
			demo.ProduceOptions{Burst: s.Burst, Rate: s.Rate, Malformed: true})
		return err
	})
	g.Go(func() error {
		tick := time.NewTicker(s.Every)
		defer tick.Stop()
		last := ""
		for {
			select {
			case <-gctx.Done():
				fmt.Fprintf(stdout, "\nstopping… final tally: %s\n", tally)
				return nil
			case <-tick.C:
				if line := tally.String(); line != last {
					fmt.Fprintf(stdout, "%s  %s\n", time.Now().Format("15:04:05"), line)
					last = line
				}
			}
		}
	})
	err = g.Wait()
	fmt.Fprintln(stdout, "stopped: gatekeeper drained, servers shut down.")
	return err
}

// hushctlEnv is the shell lines that point hushctl (and any Hush command)
// at this run's servers.
func hushctlEnv(natsURL, redisURL, prefix string) string {
	return fmt.Sprintf("export HUSH_NATS_URL=%s\nexport HUSH_REDIS_URL=%s\nexport HUSH_PREFIX=%s\n",
		shellQuote(natsURL), shellQuote(redisURL), shellQuote(prefix))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/._-@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
