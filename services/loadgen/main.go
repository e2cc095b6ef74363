// Command loadgen measures Hush on this machine: it starts the servers it
// is not given (an in-process NATS server or a 3-server cluster, a private
// redis-server with the AOF on or a 3-master Redis Cluster), then runs the
// phases of internal/dev/loadgen against in-process gatekeepers and prints a table
// (and JSON with --out). `make bench` runs it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/dev/loadgen"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/platform/config"
)

type settings struct {
	NATSURL      string        `conf:"nats-url" help:"NATS server URL(s); empty: start in-process servers"`
	NATSCluster  bool          `conf:"nats-cluster" help:"start a 3-server NATS cluster with R3 streams instead of one server"`
	RedisURL     string        `conf:"redis-url" help:"Redis URL (several comma-separated addresses for a cluster); empty: start a private redis-server"`
	RedisCluster bool          `conf:"redis-cluster" help:"start a private 3-master Redis Cluster instead of one redis-server"`
	Policy       string        `conf:"policy" help:"policy file; empty: the embedded default policy"`
	Customers    int           `conf:"customers" default:"100000" help:"distinct customers"`
	Zipf         float64       `conf:"zipf" default:"1.1" help:"Zipf exponent s over customers (> 1): customer k gets (v+k)^-s of the traffic"`
	ZipfV        float64       `conf:"zipf-v" default:"1" help:"Zipf v (>= 1); larger flattens the head"`
	OptedOut     float64       `conf:"opted-out" default:"0.05" help:"fraction of customers opted out of email and sms"`
	DoNothing    float64       `conf:"do-nothing" default:"0.02" help:"fraction of customers in do-nothing mode"`
	Workers      int           `conf:"workers" default:"64" help:"gatekeeper workers per replica"`
	MaxAck       int           `conf:"max-ack-pending" default:"4096" help:"gatekeeper max ack pending"`
	RedisPool    int           `conf:"redis-pool" default:"72" help:"go-redis pool size per replica"`
	AutoPipeline bool          `conf:"redis-autopipeline" default:"true" help:"send concurrent decisions to Redis in shared pipelines (go-redis AutoPipeliner)"`
	Warmup       time.Duration `conf:"warmup" default:"5s" help:"left out of every measurement"`
	Duration     time.Duration `conf:"duration" default:"15s" help:"measured time per phase"`
	Rate         float64       `conf:"rate" default:"5000" help:"offered intents/s of the latency phase"`
	Replicas     string        `conf:"replicas" default:"1,2,3" help:"gatekeeper replica counts of the scale-out phases"`
	Phases       string        `conf:"phases" help:"comma-separated subset of ceiling,relay,hush,features,latency,replicas; empty: all"`
	BinDir       string        `conf:"bin-dir" help:"directory holding the gatekeeper and natsd binaries: the gatekeepers run as processes of their own (each one's CPU per decision reported) and, without --nats-url, so does the NATS server; empty: everything in this process"`
	GKArgs       string        `conf:"gatekeeper-args" help:"extra gatekeeper arguments with --bin-dir, space-separated (e.g. \"--log-level info\"; the default is warn)"`
	JSON         float64       `conf:"json" help:"fraction of intents published as JSON (protojson), the rest binary protobuf"`
	ProfileDir   string        `conf:"profile-dir" help:"write CPU, allocation and blocking profiles of the flat-out phase here"`
	Out          string        `conf:"out" help:"write the result as JSON to this file"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var s settings
	if err := config.Parse("HUSH_LOADGEN", &s, args, getenv, stdout); err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// The gatekeeper binary's default (--gc-percent 400): in-process
		// gatekeepers collect as deployed ones do.
		debug.SetGCPercent(400)
	}
	pol, err := policy.LoadOrDefault(s.Policy)
	if err != nil {
		return err
	}
	features, err := loadgen.FeaturesPolicy()
	if err != nil {
		return err
	}
	w := loadgen.DefaultWorkload()
	w.Customers, w.ZipfS, w.ZipfV, w.OptedOut, w.DoNothing = s.Customers, s.Zipf, s.ZipfV, s.OptedOut, s.DoNothing
	cfg := loadgen.Config{
		NATSURL: s.NATSURL, RedisURL: s.RedisURL, StreamReplicas: 1, Policy: pol, FeaturesPolicy: features, Workload: w,
		Workers: s.Workers, MaxAckPending: s.MaxAck, RedisPool: s.RedisPool, AutoPipeline: s.AutoPipeline,
		Warmup: s.Warmup, Duration: s.Duration, Rate: s.Rate, ProfileDir: s.ProfileDir, Log: stderr,
	}
	for _, r := range strings.Split(s.Replicas, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n < 1 {
			return fmt.Errorf("--replicas: %q is not a replica count", r)
		}
		cfg.Replicas = append(cfg.Replicas, n)
	}
	if s.JSON < 0 || s.JSON > 1 {
		return fmt.Errorf("--json: %v is not a fraction", s.JSON)
	}
	cfg.JSONFraction = s.JSON
	if s.Phases != "" {
		cfg.Phases = strings.Split(s.Phases, ",")
	}

	dir, err := os.MkdirTemp("", "hush-bench-")
	if err != nil {
		return fmt.Errorf("bench dir: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "redis"), 0o755); err != nil {
		return fmt.Errorf("bench dir: %w", err)
	}
	if s.BinDir != "" {
		fp, err := loadgen.WriteFeaturesPolicy(dir)
		if err != nil {
			return err
		}
		cfg.Procs = &loadgen.Procs{Gatekeeper: filepath.Join(s.BinDir, "gatekeeper"), PolicyPath: s.Policy, FeaturesPolicyPath: fp,
			Dir: dir, Args: strings.Fields(s.GKArgs), Pprof: s.ProfileDir != ""}
	}
	if cfg.NATSURL == "" && s.BinDir != "" && !s.NATSCluster {
		n, err := loadgen.StartNATSD(ctx, filepath.Join(s.BinDir, "natsd"), filepath.Join(dir, "nats"), "2m")
		if err != nil {
			return err
		}
		defer n.Stop()
		cfg.NATSURL, cfg.NATSD = n.URL, n
	}
	if cfg.NATSURL == "" {
		if s.NATSCluster {
			c, err := localsrv.StartNATSCluster(ctx, filepath.Join(dir, "nats"), 3)
			if err != nil {
				return err
			}
			defer c.Shutdown()
			cfg.NATSURL, cfg.StreamReplicas = c.URL, 3
		} else {
			ns, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: filepath.Join(dir, "nats")})
			if err != nil {
				return err
			}
			defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
			cfg.NATSURL = ns.ClientURL()
		}
	} else if s.NATSCluster {
		cfg.StreamReplicas = 3
	}
	if cfg.RedisURL == "" {
		cfg.FlushRedis = true
		if s.RedisCluster {
			c, err := localsrv.StartRedisCluster(ctx, localsrv.RedisClusterOptions{Dir: filepath.Join(dir, "redis"), AppendOnly: true})
			if err != nil {
				return err
			}
			defer c.Kill()
			cfg.RedisURL = c.URL
		} else {
			r, err := localsrv.StartRedis(ctx, localsrv.RedisOptions{Dir: filepath.Join(dir, "redis"), AppendOnly: true})
			if err != nil {
				return err
			}
			defer r.Kill()
			cfg.RedisURL = r.URL
		}
	}
	fmt.Fprintf(stderr, "loadgen: nats %s, redis %s\n", cfg.NATSURL, config.MaskURL(cfg.RedisURL))

	res, err := loadgen.Run(ctx, cfg)
	if res != nil {
		res.WriteTable(stdout)
		if s.Out != "" {
			if werr := writeJSON(s.Out, res); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
