// Command gatekeeper decides every contact intent: it consumes the intents
// stream and moves each intent to dispatch, the suppression log or the dead
// letters. Run any number of replicas; they share one durable consumer.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	_ "time/tzdata" // time zones without the host's tzdata

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/config"
	"github.com/hush-oss/hush/internal/platform/connect"
	"github.com/hush-oss/hush/internal/platform/telemetry"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

type settings struct {
	connect.NATSSettings `default.nats-inbox-prefix:"_HUSH_INBOX.gatekeeper" help.nats-inbox-prefix:"subject prefix of replies and pulled intents; deploy/nats lets only the gatekeeper read it"`
	connect.RedisSettings
	Policy        string        `conf:"policy" help:"policy file (YAML); empty: the embedded deploy/policy/default.yaml"`
	Prefix        string        `conf:"prefix" default:"hush" help:"first token of every subject and Redis key"`
	Replicas      int           `conf:"stream-replicas" default:"1" help:"replicas of the streams created at start-up (3 on a cluster)"`
	Workers       int           `conf:"workers" default:"64" help:"intents decided concurrently"`
	AutoPipeline  bool          `conf:"redis-autopipeline" default:"true" help:"send concurrent decisions to Redis in shared pipelines (one script call each, far fewer round trips)"`
	MaxAckPending int           `conf:"max-ack-pending" default:"4096" help:"intents in flight across all replicas"`
	MaxDeliver    int           `conf:"max-deliver" default:"10" help:"failed attempts (Redis or NATS errors) before an intent is dead-lettered with its last error; gatekeepers that died holding it do not count"`
	MaxCrashes    int           `conf:"max-crashes" default:"3" help:"times a gatekeeper may die while processing an intent alone before the intent is dead-lettered as the cause"`
	AckWait       time.Duration `conf:"ack-wait" default:"3s" help:"redelivery delay for an intent whose gatekeeper stopped (intents in hand send progress every third of it)"`
	IntentAge     time.Duration `conf:"intent-retention" default:"168h" help:"how long the intents and inbound streams keep what they hold: the longest period hushctl simulate can replay (plus the longest cap window, to start from full counters); disk cost in docs/operations.md"`
	DupWindow     time.Duration `conf:"duplicate-window" default:"10m" help:"JetStream duplicate window of the streams; must exceed max-deliver × max(ack-wait, 30s), the span of one intent's redeliveries"`
	Grace         time.Duration `conf:"shutdown-grace" default:"25s" help:"time to finish in-flight intents after SIGTERM"`
	LogLevel      string        `conf:"log-level" default:"info" help:"debug, info, warn or error"`
	HTTPAddr      string        `conf:"http-addr" default:":8080" help:"address of /metrics, /healthz and /readyz; empty: none"`
	Pprof         bool          `conf:"pprof" help:"also serve net/http/pprof under /debug/pprof/ on --http-addr, which must then be a loopback address"`
	GCPercent     int           `conf:"gc-percent" default:"400" help:"Go garbage collector target (GOGC): heap growth in percent between collections; higher spends less CPU on collection for more memory (0: Go's default of 100; GOGC in the environment wins)"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gatekeeper:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var s settings
	if err := config.Parse("HUSH", &s, args, getenv, stdout); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// One intent's redeliveries, each after AckWait or a retry delay of at
	// most 30s, must all fall inside the duplicate window: a redelivery
	// republishes the recorded outcome, and only the window drops it if
	// the first publish landed.
	if span := time.Duration(s.MaxDeliver) * max(s.AckWait, 30*time.Second); s.DupWindow <= span {
		return fmt.Errorf("--duplicate-window %s: must exceed --max-deliver × max(--ack-wait, 30s) = %s", s.DupWindow, span)
	}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))).With("service", "gatekeeper")
	log.Info("starting", "version", version, "config", config.String("HUSH", &s))
	if gogc := getenv("GOGC"); gogc != "" {
		log.Info("garbage collector target from GOGC", "gogc", gogc)
	} else if s.GCPercent != 0 {
		// The live heap is small (tens of MB) and nearly all garbage is
		// per-decision: collecting less often saves a tenth of the CPU per
		// decision for a few hundred MB at most (docs/performance.md).
		debug.SetGCPercent(s.GCPercent)
	}

	// Telemetry is set up first and shut down last, on a fresh context:
	// the spans of the last intents drained must still be flushed.
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "hush-gatekeeper", ServiceVersion: version, Getenv: getenv})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), telemetry.ShutdownTimeout)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			log.Warn("telemetry not flushed", "err", err)
		}
	}()
	tel.InstallGlobals()
	log.Info("telemetry", "tracing", tel.Tracing, "otlp_endpoint", tel.Endpoint)
	metrics, err := gatekeeper.NewMetrics(tel.MeterProvider)
	if err != nil {
		return err
	}

	pol, err := policy.LoadOrDefault(s.Policy)
	if err != nil {
		return err
	}
	if s.Pprof {
		if err := loopbackOnly(s.HTTPAddr); err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
	}
	var ln net.Listener
	if s.HTTPAddr != "" {
		if ln, err = net.Listen("tcp", s.HTTPAddr); err != nil {
			return fmt.Errorf("--http-addr: %w", err)
		}
		defer ln.Close()
	}
	nopts := s.NATSSettings.Options("hush-gatekeeper", log)
	nopts.MaxPendingPublishes = s.MaxAckPending
	nc, js, err := connect.NATS(s.NATSURL, nopts)
	if err != nil {
		return err
	}
	defer nc.Close()
	metrics.WatchNATS(nc, log)
	rdb, err := connect.Redis(ctx, s.RedisURL, s.Workers+8)
	if err != nil {
		return err
	}
	defer rdb.Close()
	storeClient := rdb
	if s.AutoPipeline {
		// Workers' script calls share pipelines: under load dozens of
		// decisions travel in one round trip (docs/performance.md).
		ap, ok := rdb.(interface {
			AutoPipeline() (*redis.AutoPipeliner, error)
		})
		if !ok {
			return fmt.Errorf("--redis-autopipeline: unsupported client %T", rdb)
		}
		if storeClient, err = ap.AutoPipeline(); err != nil {
			return fmt.Errorf("--redis-autopipeline: %w", err)
		}
	}

	subjects := bus.NewSubjects(s.Prefix)
	so := bus.DefaultStreamOptions()
	so.Replicas = s.Replicas
	so.DuplicateWindow = s.DupWindow
	so.IntentRetention = s.IntentAge
	if err := subjects.EnsureStreams(ctx, js, so); err != nil {
		return err
	}
	gk := gatekeeper.New(js, store.New(storeClient, s.Prefix), pol, gatekeeper.Options{
		Subjects: subjects, Workers: s.Workers, MaxAckPending: s.MaxAckPending,
		MaxDeliver: s.MaxDeliver, MaxCrashes: s.MaxCrashes, AckWait: s.AckWait, Logger: log, PolicyReplicas: s.Replicas,
		TracerProvider: tel.TracerProvider, Propagator: tel.Propagator, Observer: metrics,
	})
	log.Info("policy loaded", "version", pol.Version, "file", s.Policy)

	// Before the gatekeeper sends its first command.
	if err := telemetry.InstrumentRedis(rdb, tel.TracerProvider, metrics.RedisHook()); err != nil {
		return err
	}
	metrics.Init(pol)
	if err := metrics.ObserveConsumers(js, gk.Consumers()); err != nil {
		return err
	}
	if err := metrics.ObservePolicy(func() string { return gk.Policy().Version }); err != nil {
		return err
	}
	if err := metrics.ObservePublishPending(js); err != nil {
		return err
	}
	if err := metrics.ObserveDeferredBacklog(gatekeeper.DeferredBacklog(js, subjects.Stream(bus.StreamDeferred), subjects.All("deferred"))); err != nil {
		return err
	}
	var streams []string
	for _, c := range subjects.StreamConfigs(so) {
		streams = append(streams, c.Name)
	}
	health := telemetry.NewHealth(telemetry.NATSConnected(nc), telemetry.RedisPing(rdb), telemetry.StreamsPresent(js, streams...))
	// The HTTP server outlives the drain: /readyz turns unready at SIGTERM
	// while /metrics still reports the last intents.
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	httpDone := make(chan error, 1)
	if ln != nil {
		mux := http.NewServeMux()
		tel.Routes(mux, health)
		if s.Pprof {
			routePprof(mux)
			log.Warn("serving /debug/pprof/ (profiling on)", "addr", ln.Addr().String())
		}
		go func() { httpDone <- telemetry.Serve(httpCtx, ln, mux) }()
		log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	} else {
		httpDone <- nil
	}

	// "May I contact?" (hush.check.<producer>): a NATS micro service.
	checks, err := gk.StartCheck(ctx, nc)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gk.Run(gctx) })
	g.Go(func() error { return reloadOnHUP(gctx, s.Policy, gk, metrics, log) })
	g.Go(func() error { return gk.RunInbound(gctx) })
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		health.Drain()
		log.Info("stopping: finishing in-flight intents", "grace", s.Grace)
		select {
		case err = <-done:
		case <-time.After(s.Grace):
			err = fmt.Errorf("in-flight intents not finished within %s; JetStream redelivers them", s.Grace)
		}
	}
	if cerr := checks.Stop(); cerr != nil && err == nil {
		err = cerr
	}
	if nerr := nc.Drain(); nerr != nil && err == nil {
		err = nerr
	}
	stopHTTP()
	if herr := <-httpDone; herr != nil && err == nil {
		err = herr
	}
	log.Info("stopped")
	return err
}

// reloadOnHUP reloads the policy on SIGHUP and when its file changes; a bad
// file is rejected and the policy in force keeps running.
func reloadOnHUP(ctx context.Context, path string, gk *gatekeeper.Gatekeeper, metrics *gatekeeper.Metrics, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	load := func(path string) (*policy.Policy, error) {
		pol, err := policy.LoadOrDefault(path)
		if err != nil {
			metrics.PolicyReloaded(false)
		}
		return pol, err
	}
	apply := func(pol *policy.Policy) {
		gk.SetPolicy(pol)
		metrics.PolicyReloaded(true)
	}
	r := policy.Reloader{Path: path, Load: load, Apply: apply,
		Current: func() string { return gk.Policy().Version }, Logger: log}
	return r.Run(ctx, hup)
}
