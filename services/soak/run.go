package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// soakPolicy has caps a few dozen intents per customer run into.
const soakPolicy = `version: soak-1
fallback_time_zone: UTC
decision_retention: 72h
categories:
  critical:      { class: critical }
  transactional: { class: transactional }
  service:       { class: service }
  marketing:     { class: marketing }
  survey:        { class: marketing }
producers:
  # The workload's producers send every category.
  campaigns: { categories: [critical, transactional] }
  billing:   { categories: [critical, transactional] }
  support:   { categories: [critical, transactional] }
  security:  { categories: [critical, transactional] }
rules:
  opt_out.channel: { mode: enforce }
  mode.do_nothing: { mode: enforce }
caps:
  - { id: customer-daily,   scope: customer, window: 24h, max: 5, classes: [service, marketing] }
  - { id: marketing-weekly, scope: category, window: 7d,  max: 3, classes: [marketing] }
  - { id: sms-hourly,       scope: channel,  window: 1h,  max: 2, classes: [service, marketing] }
digest:
  max_pending: 3
`

const prefix = "hush"

type soakRun struct {
	s        settings
	out      io.Writer
	dir      string
	tempDir  bool
	bins     string
	natsPort int
	natsURL  string
	nats     *proc
	natsMu   sync.Mutex
	redis    *localsrv.Redis
	nc       *nats.Conn
	js       jetstream.JetStream
	rdb      *redis.Client
	store    *store.Store
	pol      *policy.Policy
	polPath  string
	subjects bus.Subjects
	slots    []*slot
	start    time.Time

	kills, terms, badTerms atomic.Int64
	redisRestarts          int
	natsRestarts           int
	termNotes              []string
	termMu                 sync.Mutex
}

func (r *soakRun) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "%7.1fs  "+format+"\n", append([]any{time.Since(r.start).Seconds()}, args...)...)
}

func newRun(ctx context.Context, s settings, out io.Writer) (*soakRun, error) {
	r := &soakRun{s: s, out: out, dir: s.WorkDir, subjects: bus.NewSubjects(prefix), start: time.Now()}
	if r.dir == "" {
		d, err := os.MkdirTemp("", "hush-soak-")
		if err != nil {
			return nil, err
		}
		r.dir, r.tempDir = d, true
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	r.bins = s.BinDir
	if r.bins == "" {
		r.bins = filepath.Join(r.dir, "bin")
		r.logf("building gatekeeper and natsd into %s", r.bins)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", r.bins+"/",
			"github.com/hush-oss/hush/services/gatekeeper", "github.com/hush-oss/hush/services/natsd")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build binaries: %w", err)
		}
	}
	r.polPath = s.Policy
	if r.polPath == "" {
		r.polPath = filepath.Join(r.dir, "policy.yaml")
		if err := os.WriteFile(r.polPath, []byte(soakPolicy), 0o644); err != nil {
			return nil, err
		}
	}
	var err error
	if r.pol, err = policy.LoadFile(r.polPath); err != nil {
		return nil, err
	}

	if r.natsPort, err = localsrv.FreePort(); err != nil {
		return nil, err
	}
	r.natsURL = "nats://127.0.0.1:" + strconv.Itoa(r.natsPort)
	if err := r.startNATS(ctx); err != nil {
		return nil, err
	}
	ropts := localsrv.RedisOptions{Dir: filepath.Join(r.dir, "redis"), AppendOnly: s.RedisFsync != "off"}
	if ropts.AppendOnly {
		ropts.Args = []string{"--appendfsync", s.RedisFsync}
	}
	os.MkdirAll(ropts.Dir, 0o755)
	if r.redis, err = localsrv.StartRedis(ctx, ropts); err != nil {
		return nil, err
	}
	r.logf("nats %s (sync %s), redis %s (appendfsync %s), work dir %s", r.natsURL, s.NATSSync, r.redis.URL, s.RedisFsync, r.dir)

	if r.nc, r.js, err = connect.NATS(r.natsURL, connect.NATSOptions{Name: "hush-soak", MaxPendingPublishes: 4096}); err != nil {
		return nil, err
	}
	ropt, _ := redis.ParseURL(r.redis.URL)
	ropt.PoolSize, ropt.MaxRetries = 32, 20
	r.rdb = redis.NewClient(ropt)
	r.store = store.New(r.rdb, prefix)
	so := bus.DefaultStreamOptions()
	if err := r.subjects.EnsureStreams(ctx, r.js, so); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

func (r *soakRun) startNATS(ctx context.Context) error {
	p, err := startProc(filepath.Join(r.bins, "natsd"), []string{
		"--port", strconv.Itoa(r.natsPort), "--store-dir", filepath.Join(r.dir, "nats"), "--sync", r.s.NATSSync,
	}, filepath.Join(r.dir, "natsd.log"))
	if err != nil {
		return err
	}
	r.natsMu.Lock()
	r.nats = p
	r.natsMu.Unlock()
	return waitPort(ctx, "127.0.0.1:"+strconv.Itoa(r.natsPort), time.Minute)
}

func (r *soakRun) close() {
	for _, sl := range r.slots {
		sl.stop(syscall.SIGKILL, true, 10*time.Second)
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.rdb != nil {
		r.rdb.Close()
	}
	if r.redis != nil {
		r.redis.Kill()
	}
	r.natsMu.Lock()
	if r.nats != nil {
		r.nats.signal(syscall.SIGKILL)
		r.nats.wait(10 * time.Second)
	}
	r.natsMu.Unlock()
	if r.tempDir {
		os.RemoveAll(r.dir)
	}
}

func (r *soakRun) startGatekeepers(ctx context.Context) {
	for i := range r.s.Gatekeepers {
		sl := &slot{n: i, bin: filepath.Join(r.bins, "gatekeeper"), log: filepath.Join(r.dir, fmt.Sprintf("gatekeeper-%d.log", i)),
			args: []string{
				"--nats-url", r.natsURL, "--redis-url", r.redis.URL, "--http-addr", "127.0.0.1:0", "--policy", r.polPath, "--prefix", prefix,
				"--workers", strconv.Itoa(r.s.Workers), "--ack-wait", r.s.AckWait.String(),
				"--shutdown-grace", r.s.Grace.String(), "--log-level", "warn",
			}}
		r.slots = append(r.slots, sl)
		go sl.run(ctx)
	}
}

// faults SIGKILLs (or, every TermEvery-th time, SIGTERMs) a random
// gatekeeper every KillEvery, and restarts Redis and NATS once each when
// progress passes a third and two thirds.
func (r *soakRun) faults(ctx context.Context, progress func() float64, done <-chan struct{}) {
	if r.s.KillEvery <= 0 && !r.s.RedisRestart && !r.s.NATSRestart {
		return
	}
	every := r.s.KillEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	rng := rand.New(rand.NewPCG(uint64(r.s.Seed), 99))
	t := time.NewTicker(every)
	defer t.Stop()
	redisDone, natsDone := !r.s.RedisRestart, !r.s.NATSRestart
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
		p := progress()
		if !redisDone && p >= 1.0/3 {
			redisDone = true
			r.restartRedis(ctx)
		}
		if !natsDone && p >= 2.0/3 {
			natsDone = true
			r.restartNATS(ctx)
		}
		if r.s.KillEvery <= 0 {
			continue
		}
		sl := r.slots[rng.IntN(len(r.slots))]
		if r.s.TermEvery > 0 && n%r.s.TermEvery == 0 {
			go r.term(sl)
			continue
		}
		if _, err := sl.stop(syscall.SIGKILL, false, 10*time.Second); err == nil {
			r.kills.Add(1)
		}
	}
}

// term stops a gatekeeper with SIGTERM: it must drain and exit 0 within
// its grace period (and the slot then starts it again).
func (r *soakRun) term(sl *slot) {
	start := time.Now()
	code, err := sl.stop(syscall.SIGTERM, false, r.s.Grace+5*time.Second)
	r.terms.Add(1)
	if err != nil || code != 0 {
		r.badTerms.Add(1)
		r.termMu.Lock()
		r.termNotes = append(r.termNotes, fmt.Sprintf("gatekeeper %d: SIGTERM exit %d after %s: %v", sl.n, code, time.Since(start).Round(time.Millisecond), err))
		r.termMu.Unlock()
	}
}

func (r *soakRun) restartRedis(ctx context.Context) {
	how := "clean shutdown (SIGTERM)"
	if r.s.RedisCrash {
		how = "SIGKILL"
		r.redis.Kill()
	}
	start := time.Now()
	if err := r.redis.Restart(ctx); err != nil {
		r.logf("redis restart failed: %v", err)
		return
	}
	r.redisRestarts++
	r.logf("redis restarted (%s), down %s", how, time.Since(start).Round(time.Millisecond))
}

func (r *soakRun) restartNATS(ctx context.Context) {
	start := time.Now()
	r.natsMu.Lock()
	p := r.nats
	r.natsMu.Unlock()
	p.signal(syscall.SIGKILL)
	p.wait(30 * time.Second)
	if err := r.startNATS(ctx); err != nil {
		r.logf("nats restart failed: %v", err)
		return
	}
	r.natsRestarts++
	r.logf("nats restarted (SIGKILL), down %s", time.Since(start).Round(time.Millisecond))
}
