package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// Config is one benchmark run against running servers.
type Config struct {
	// NATSURL and RedisURL name the servers (several comma-separated
	// addresses for a cluster).
	NATSURL  string
	RedisURL string
	// StreamReplicas is the replication of the streams each phase
	// creates (3 on a NATS cluster).
	StreamReplicas int
	// FlushRedis empties Redis between phases; only for a private server.
	FlushRedis bool
	Policy     *policy.Policy
	// FeaturesPolicy is the policy of the features phase (FeaturesPolicy()):
	// the flat-out phase again with priorities, a deferring cap, digests
	// and packs on. Nil leaves the phase out.
	FeaturesPolicy *policy.Policy
	Workload       Workload
	// Workers and MaxAckPending are the gatekeeper's (and the relay's)
	// settings; RedisPool the go-redis pool size of each replica.
	Workers, MaxAckPending, RedisPool int
	// AutoPipeline sends the decisions of concurrent workers to Redis in
	// shared pipelines (go-redis AutoPipeliner) instead of one round
	// trip each.
	AutoPipeline bool
	// Warmup is left out of every measurement; Duration is measured.
	Warmup, Duration time.Duration
	// Rate is the offered rate of the latency phase.
	Rate float64
	// Replicas are the gatekeeper replica counts of the scale-out phases
	// (1 is measured anyway by the flat-out phase).
	Replicas []int
	// Phases selects phases by name: ceiling, relay, hush, features,
	// latency, replicas. Empty runs them all.
	Phases []string
	// ProfileDir, when set, receives CPU, allocation and blocking
	// profiles of the flat-out hush phase (this process: the gatekeeper,
	// the load generator and an in-process NATS server when there is one).
	ProfileDir string
	// Procs, when set, runs the gatekeeper replicas as separate processes
	// of the real binary and reads each one's CPU time; nil runs them in
	// this process (for profiling the whole path at once).
	Procs *Procs
	// JSONFraction of the intents are published as protojson with
	// Content-Type application/json, the rest as binary protobuf.
	JSONFraction float64
	// NATSD, when set, is the NATS server process: its CPU per decision
	// is reported too.
	NATSD *NATSD
	Log   io.Writer
}

// Phase is the measurement of one phase.
type Phase struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // ceiling, relay or hush
	Replicas int     `json:"replicas,omitempty"`
	Offered  float64 `json:"offered_per_s,omitempty"` // 0: flat out
	// Throughput is outcomes (or store decisions) per second after the
	// warm-up.
	Throughput float64          `json:"throughput_per_s"`
	Published  uint64           `json:"published,omitempty"`
	Outcomes   int64            `json:"outcomes,omitempty"`
	Missing    uint64           `json:"missing"`
	Duplicated uint64           `json:"duplicated"`
	ByOutcome  map[string]int64 `json:"by_outcome,omitempty"`
	Latency    *Latency         `json:"latency,omitempty"`
	// RoundTrips is client round trips to Redis per decision, counted by a
	// go-redis hook; ScriptCalls and OtherCalls are the server's view (INFO
	// commandstats deltas) per decision.
	RoundTrips  float64 `json:"redis_round_trips_per_decision,omitempty"`
	ScriptCalls float64 `json:"redis_script_calls_per_decision,omitempty"`
	OtherCalls  float64 `json:"redis_other_calls_per_decision"`
	// Customers is how many distinct customers were addressed; the memory
	// figures are INFO used_memory deltas over the phase, preferences
	// included.
	Customers        int     `json:"customers_touched,omitempty"`
	MemoryDelta      int64   `json:"redis_memory_delta_bytes,omitempty"`
	BytesPerCustomer float64 `json:"redis_bytes_per_customer,omitempty"`
	BytesPerDecision float64 `json:"redis_bytes_per_decision,omitempty"`
	RedisCPU         float64 `json:"redis_cpu_cores"`   // Redis CPU seconds per second
	ProcessCPU       float64 `json:"process_cpu_cores"` // this process's
	// GatekeeperCPU is the gatekeeper processes' CPU seconds per second,
	// summed over replicas, in the process mode; the per-decision figures
	// divide CPU time by the decisions of the measured window.
	GatekeeperCPU     float64 `json:"gatekeeper_cpu_cores,omitempty"`
	GatekeeperCPUPerD float64 `json:"gatekeeper_cpu_us_per_decision,omitempty"`
	RedisCPUPerD      float64 `json:"redis_cpu_us_per_decision,omitempty"`
	NATSCPUPerD       float64 `json:"nats_cpu_us_per_decision,omitempty"`
	JSONFraction      float64 `json:"json_fraction"`
	Processes         bool    `json:"gatekeeper_processes"`
	LoadAverage       string  `json:"load_average"`
	PublishFailures   int64   `json:"publish_failures"`
	MeasuredSeconds   float64 `json:"measured_seconds"`
	ProfileDirectory  string  `json:"profile_dir,omitempty"`
}

// Result is a whole run.
type Result struct {
	Started    time.Time `json:"started"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Workload   Workload  `json:"workload"`
	Workers    int       `json:"workers"`
	MaxAck     int       `json:"max_ack_pending"`
	RedisPool  int       `json:"redis_pool"`
	Warmup     string    `json:"warmup"`
	Duration   string    `json:"duration"`
	Phases     []Phase   `json:"phases"`
	// RatioToCeiling and RatioToRelay compare the flat-out hush phase
	// with the reference points of the same run.
	RatioToCeiling float64  `json:"ratio_to_redis_ceiling"`
	RatioToRelay   float64  `json:"ratio_to_relay"`
	Targets        []Target `json:"targets"`
}

// Target is one of the targets and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// Run measures every selected phase in turn on the same servers.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	res := &Result{Started: time.Now().UTC(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Workload: cfg.Workload, Workers: cfg.Workers, MaxAck: cfg.MaxAckPending, RedisPool: cfg.RedisPool,
		Warmup: cfg.Warmup.String(), Duration: cfg.Duration.String()}
	admin, err := connect.Redis(ctx, cfg.RedisURL, 16)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	nc, js, err := connect.NATS(cfg.NATSURL, connect.NATSOptions{Name: "hush-loadgen-admin"})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	b := &bench{cfg: cfg, admin: admin, js: js}

	want := func(name string) bool {
		if len(cfg.Phases) == 0 {
			return true
		}
		for _, p := range cfg.Phases {
			if p == name {
				return true
			}
		}
		return false
	}
	add := func(p Phase, err error) error {
		if err != nil {
			return fmt.Errorf("phase %s: %w", p.Name, err)
		}
		res.Phases = append(res.Phases, p)
		b.logf("%-10s %10.0f/s  %s", p.Name, p.Throughput, p.LoadAverage)
		return nil
	}
	if want("ceiling") {
		if err := add(b.ceiling(ctx)); err != nil {
			return res, err
		}
	}
	if want("relay") {
		if err := add(b.streamPhase(ctx, "relay", 1, 0, true, false)); err != nil {
			return res, err
		}
	}
	if want("hush") {
		if err := add(b.streamPhase(ctx, "hush", 1, 0, false, cfg.ProfileDir != "")); err != nil {
			return res, err
		}
	}
	if want("features") && cfg.FeaturesPolicy != nil {
		if err := add(b.streamPhase(ctx, "features", 1, 0, false, false)); err != nil {
			return res, err
		}
	}
	if want("latency") {
		if err := add(b.streamPhase(ctx, "latency", 1, cfg.Rate, false, false)); err != nil {
			return res, err
		}
	}
	if want("replicas") {
		for _, n := range cfg.Replicas {
			if n == 1 && want("hush") {
				continue
			}
			if err := add(b.streamPhase(ctx, fmt.Sprintf("replicas%d", n), n, 0, false, false)); err != nil {
				return res, err
			}
		}
	}
	res.score()
	return res, nil
}

type bench struct {
	cfg   Config
	admin redis.UniversalClient
	js    jetstream.JetStream
}

// policy is the policy of a phase.
func (b *bench) policy(phase string) *policy.Policy {
	if phase == "features" {
		return b.cfg.FeaturesPolicy
	}
	return b.cfg.Policy
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.Log, "loadgen: "+format+"\n", args...)
}

func (b *bench) ceiling(ctx context.Context) (Phase, error) {
	p := Phase{Name: "ceiling", Kind: "ceiling"}
	prefix := "bceiling"
	st := store.New(b.admin, prefix)
	if _, err := b.cfg.Workload.SeedPreferences(ctx, st, 32); err != nil {
		return p, err
	}
	// The ceiling gets a client of its own with the replicas' pool size.
	rdb, err := connect.Redis(ctx, b.cfg.RedisURL, b.cfg.RedisPool)
	if err != nil {
		return p, err
	}
	defer rdb.Close()
	var trips TripCounter
	rdb.AddHook(&trips)
	before, err := ReadRedisStats(ctx, b.admin)
	if err != nil {
		return p, err
	}
	cpu0 := processCPU()
	client, err := b.storeClient(rdb)
	if err != nil {
		return p, err
	}
	c := &Ceiling{Store: store.New(client, prefix), Policy: b.cfg.Policy, W: b.cfg.Workload, Run: "ceiling", Concurrency: b.cfg.Workers}
	start := time.Now()
	rate, n, err := c.Measure(ctx, b.cfg.Warmup, b.cfg.Duration)
	if err != nil {
		return p, err
	}
	elapsed := time.Since(start).Seconds()
	after, err := ReadRedisStats(ctx, b.admin)
	if err != nil {
		return p, err
	}
	p.Throughput, p.Outcomes, p.MeasuredSeconds = rate, n, b.cfg.Duration.Seconds()
	p.RedisCPU = (after.CPU - before.CPU) / elapsed
	p.ProcessCPU = (processCPU() - cpu0) / elapsed
	p.LoadAverage = loadAverage()
	return p, b.cleanup(ctx, prefix, bus.Subjects{})
}

// storeClient is the client a store uses: rdb itself, or its
// auto-pipeliner.
func (b *bench) storeClient(rdb redis.UniversalClient) (redis.UniversalClient, error) {
	if !b.cfg.AutoPipeline {
		return rdb, nil
	}
	ap, ok := rdb.(interface {
		AutoPipeline() (*redis.AutoPipeliner, error)
	})
	if !ok {
		return nil, fmt.Errorf("auto-pipelining: unsupported client %T", rdb)
	}
	c, err := ap.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("auto-pipelining: %w", err)
	}
	return c, nil
}

// streamPhase runs intents through NATS: replicas gatekeepers (or the
// relay), a publisher at rate (0: flat out) and the collector.
func (b *bench) streamPhase(ctx context.Context, name string, replicas int, rate float64, relay, profile bool) (Phase, error) {
	kind := "hush"
	if relay {
		kind = "relay"
	}
	p := Phase{Name: name, Kind: kind, Replicas: replicas, Offered: rate}
	prefix := "b" + name
	subjects := bus.NewSubjects(prefix)
	so := bus.StreamOptions{Replicas: max(b.cfg.StreamReplicas, 1), DuplicateWindow: 2 * time.Minute,
		Retention: time.Hour, LogRetention: time.Hour}
	if err := subjects.EnsureStreams(ctx, b.js, so); err != nil {
		return p, err
	}
	st := store.New(b.admin, prefix)
	mem0, err := ReadRedisStats(ctx, b.admin)
	if err != nil {
		return p, err
	}
	if !relay {
		if _, err := b.cfg.Workload.SeedPreferences(ctx, st, 32); err != nil {
			return p, err
		}
	}
	before, err := ReadRedisStats(ctx, b.admin)
	if err != nil {
		return p, err
	}

	// The consumers: gatekeeper replicas (or the relay), each with
	// connections of its own as separate processes would have.
	opts := gatekeeper.Options{Subjects: subjects, Workers: b.cfg.Workers, MaxAckPending: b.cfg.MaxAckPending}
	runCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		runErr  error
		trips   []*TripCounter
		closers []func()
	)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	var procs []*gkProc
	defer func() {
		for _, g := range procs {
			g.kill()
		}
	}()
	p.JSONFraction, p.Processes = b.cfg.JSONFraction, b.cfg.Procs != nil && !relay
	for i := range replicas {
		if p.Processes {
			g, err := b.cfg.Procs.start(ctx, name, i, b.cfg, prefix)
			if err != nil {
				return p, err
			}
			procs = append(procs, g)
			continue
		}
		cnc, cjs, err := connect.NATS(b.cfg.NATSURL, connect.NATSOptions{Name: fmt.Sprintf("hush-%s-%d", kind, i), MaxPendingPublishes: b.cfg.MaxAckPending})
		if err != nil {
			return p, err
		}
		closers = append(closers, cnc.Close)
		run := func(ctx context.Context) error { return (&Relay{JS: cjs, Options: opts}).Run(ctx) }
		if !relay {
			rdb, err := connect.Redis(ctx, b.cfg.RedisURL, b.cfg.RedisPool)
			if err != nil {
				return p, err
			}
			closers = append(closers, func() { rdb.Close() })
			t := new(TripCounter)
			rdb.AddHook(t)
			trips = append(trips, t)
			client, err := b.storeClient(rdb)
			if err != nil {
				return p, err
			}
			gk := gatekeeper.New(cjs, store.New(client, prefix), b.policy(name), opts)
			run = gk.Run
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(runCtx); err != nil {
				errMu.Lock()
				runErr = err
				errMu.Unlock()
			}
		}()
	}

	book := NewBook(bookCapacity(b.cfg, rate))
	col := NewCollector(book, name)
	col.from.Store(1<<63 - 1)
	if err := col.Start(ctx, b.js, subjects); err != nil {
		return p, err
	}
	defer col.Stop()

	pub := &Publisher{Subjects: subjects, Gen: b.cfg.Workload.NewGenerator(name, 1), Book: book, Rate: rate,
		JSONFraction: b.cfg.JSONFraction, MaxBacklog: int64(2 * b.cfg.MaxAckPending * replicas)}
	pub.Backlog = func() int64 { return int64(pub.Published()) - col.Seen() }
	pnc, err := nats.Connect(b.cfg.NATSURL, nats.Name("hush-loadgen-publisher"))
	if err != nil {
		return p, fmt.Errorf("connect nats: %w", err)
	}
	defer pnc.Close()
	if pub.JS, err = jetstream.New(pnc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(pub.OnAsyncError)); err != nil {
		return p, fmt.Errorf("jetstream: %w", err)
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()

	if err := sleep(ctx, b.cfg.Warmup); err != nil {
		return p, err
	}
	from := time.Now()
	col.from.Store(from.UnixNano())
	cpu0, redis0 := processCPU(), before.CPU
	gkCPU := func() float64 {
		var sum float64
		for _, g := range procs {
			sum += g.cpu()
		}
		return sum
	}
	gk0 := gkCPU()
	natsCPU := func() float64 {
		if b.cfg.NATSD == nil {
			return 0
		}
		return b.cfg.NATSD.CPU()
	}
	nats0 := natsCPU()
	if r, err := ReadRedisStats(ctx, b.admin); err == nil {
		redis0 = r.CPU
	}
	stopProfile := func() error { return nil }
	if profile && len(procs) > 0 {
		// The gatekeeper's own profile, from its /debug/pprof/.
		if err := os.MkdirAll(b.cfg.ProfileDir, 0o755); err != nil {
			return p, fmt.Errorf("profile dir: %w", err)
		}
		perr := make(chan error, 1)
		go func() {
			perr <- procs[0].profile(ctx, int(b.cfg.Duration.Seconds()), filepath.Join(b.cfg.ProfileDir, "gatekeeper-cpu.prof"))
		}()
		stopProfile = func() error { return <-perr }
		p.ProfileDirectory = b.cfg.ProfileDir
	} else if profile {
		if stopProfile, err = startProfiles(b.cfg.ProfileDir); err != nil {
			return p, err
		}
		p.ProfileDirectory = b.cfg.ProfileDir
	}
	if err := sleep(ctx, b.cfg.Duration); err != nil {
		return p, err
	}
	to := time.Now()
	col.to.Store(to.UnixNano())
	if err := stopProfile(); err != nil {
		return p, err
	}
	p.ProcessCPU = (processCPU() - cpu0) / to.Sub(from).Seconds()
	gkSecs, natsSecs := gkCPU()-gk0, natsCPU()-nats0
	p.GatekeeperCPU = gkSecs / to.Sub(from).Seconds()
	var redisSecs float64
	if r, err := ReadRedisStats(ctx, b.admin); err == nil {
		redisSecs = r.CPU - redis0
		p.RedisCPU = redisSecs / to.Sub(from).Seconds()
	}
	p.LoadAverage = loadAverage()

	stopPub()
	if err := <-pubDone; err != nil {
		return p, err
	}
	// Every published intent must come out once: wait for the stragglers.
	published := pub.Published()
	deadline := time.Now().Add(60 * time.Second)
	for col.Seen() < int64(published) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopConsumers()
	wg.Wait()
	if runErr != nil {
		return p, runErr
	}
	for _, g := range procs {
		if err := g.stop(); err != nil {
			return p, err
		}
	}
	procs = nil
	for _, c := range closers {
		c()
	}
	closers = nil

	lat, byOutcome := col.Summary()
	p.Throughput = float64(lat.Count) / to.Sub(from).Seconds()
	p.MeasuredSeconds = to.Sub(from).Seconds()
	p.Published, p.Outcomes, p.ByOutcome = published, col.Seen(), byOutcome
	p.Latency = &lat
	if lat.Count > 0 {
		if !relay {
			p.RedisCPUPerD = redisSecs / float64(lat.Count) * 1e6
		}
		p.GatekeeperCPUPerD = gkSecs / float64(lat.Count) * 1e6
		p.NATSCPUPerD = natsSecs / float64(lat.Count) * 1e6
	}
	p.Missing, p.Duplicated = book.Audit(published)
	p.PublishFailures = pub.Failed()
	if !relay {
		var t int64
		for _, c := range trips {
			t += c.Trips()
		}
		after, err := ReadRedisStats(ctx, b.admin)
		if err != nil {
			return p, err
		}
		decisions := float64(max(p.Outcomes, 1))
		scripts, others := ClientCalls(before, after)
		p.RoundTrips = float64(t) / decisions
		p.ScriptCalls, p.OtherCalls = float64(scripts)/decisions, float64(others)/decisions
		p.Customers = pub.Touched()
		p.MemoryDelta = after.UsedMemory - mem0.UsedMemory
		p.BytesPerCustomer = float64(p.MemoryDelta) / float64(max(p.Customers, 1))
		p.BytesPerDecision = float64(p.MemoryDelta) / decisions
	}
	return p, b.cleanup(ctx, prefix, subjects)
}

// bookCapacity bounds the intents a phase can publish: generously above
// what the run can reach.
func bookCapacity(cfg Config, rate float64) uint64 {
	secs := (cfg.Warmup + cfg.Duration + 5*time.Second).Seconds()
	if rate > 0 {
		return uint64(secs*rate*1.5) + 1<<16
	}
	return uint64(secs * 200_000)
}

// cleanup deletes a phase's streams and Redis keys so that the next phase
// starts from the same place.
func (b *bench) cleanup(ctx context.Context, prefix string, s bus.Subjects) error {
	if s.Prefix != "" {
		for _, cfg := range s.StreamConfigs(bus.DefaultStreamOptions()) {
			if err := b.js.DeleteStream(ctx, cfg.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("delete stream %s: %w", cfg.Name, err)
			}
		}
	}
	if b.cfg.FlushRedis {
		flush := func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() }
		switch c := b.admin.(type) {
		case *redis.ClusterClient:
			return c.ForEachMaster(ctx, flush)
		case *redis.Client:
			return flush(ctx, c)
		}
		return nil
	}
	return deleteKeys(ctx, b.admin, prefix+":*")
}

func deleteKeys(ctx context.Context, rdb redis.UniversalClient, match string) error {
	del := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, match, 1000).Iterator()
		var keys []string
		for it.Next(ctx) {
			keys = append(keys, it.Val())
			if len(keys) == 500 {
				if err := c.Unlink(ctx, keys...).Err(); err != nil {
					return err
				}
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		return it.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, del)
	case *redis.Client:
		err = del(ctx, c)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", match, err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startProfiles starts a CPU profile and blocking-profile sampling; the
// returned function writes cpu.prof, allocs.prof and block.prof (ignored by git).
func startProfiles(dir string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("profile dir: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "cpu.prof"))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	return func() error {
		pprof.StopCPUProfile()
		f.Close()
		runtime.SetBlockProfileRate(0)
		for _, name := range []string{"allocs", "block"} {
			w, err := os.Create(filepath.Join(dir, name+".prof"))
			if err != nil {
				return fmt.Errorf("%s profile: %w", name, err)
			}
			err = pprof.Lookup(name).WriteTo(w, 0)
			w.Close()
			if err != nil {
				return fmt.Errorf("%s profile: %w", name, err)
			}
		}
		return nil
	}, nil
}

// processCPU is this process's user+system CPU time, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// loadAverage is the 1, 5 and 15 minute load averages of the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
