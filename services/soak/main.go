// Command soak proves Hush's delivery guarantees under faults. It runs, on
// this machine, a NATS server (services/natsd) and a redis-server as
// processes of their own, several gatekeeper processes, a producer of
// intents over many customers with a realistic mix, and an auditor that
// reads the dispatch, suppression and dead-letter streams. While intents
// flow it SIGKILLs a random gatekeeper every few seconds (and stops one
// with SIGTERM now and then, which must exit 0), restarts Redis once and
// NATS once. At the end the auditor checks that every intent has exactly
// one terminal outcome (or is still deferred to a future time), that none
// was dispatched twice and that no customer received more than a cap
// allows, recomputed from the dispatch stream's own timestamps. It exits
// non-zero when any check fails.
//
//	go run ./services/soak --intents 20000
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hush-oss/hush/internal/platform/config"
)

type settings struct {
	Intents      int           `conf:"intents" default:"1000000" help:"distinct intents to produce"`
	Customers    int           `conf:"customers" default:"0" help:"customers the intents go to; 0: one per 20 intents"`
	Gatekeepers  int           `conf:"gatekeepers" default:"3" help:"gatekeeper processes"`
	Workers      int           `conf:"workers" default:"32" help:"workers per gatekeeper"`
	KillEvery    time.Duration `conf:"kill-every" default:"3s" help:"SIGKILL a random gatekeeper this often (0: never)"`
	TermEvery    int           `conf:"term-every" default:"4" help:"every n-th stop is a SIGTERM that must exit 0 (0: never)"`
	RedisRestart bool          `conf:"redis-restart" default:"true" help:"restart Redis once, at a third of the run"`
	RedisCrash   bool          `conf:"redis-crash" default:"false" help:"restart Redis with SIGKILL instead of a clean shutdown"`
	NATSRestart  bool          `conf:"nats-restart" default:"true" help:"SIGKILL and restart NATS once, at two thirds of the run"`
	NATSSync     string        `conf:"nats-sync" default:"always" help:"JetStream fsync: always, or an interval (2m is the server's default)"`
	RedisFsync   string        `conf:"redis-fsync" default:"everysec" help:"Redis appendfsync: always, everysec, no; off disables the AOF"`
	Deferred     float64       `conf:"deferred" default:"0.01" help:"share of intents deferred by a few seconds"`
	Duplicates   float64       `conf:"duplicates" default:"0.02" help:"share of intents the producer publishes twice"`
	Payload      int           `conf:"payload" default:"200" help:"payload bytes per intent"`
	Backlog      bool          `conf:"backlog" default:"false" help:"produce every intent before starting the gatekeepers"`
	AckWait      time.Duration `conf:"ack-wait" default:"5s" help:"gatekeeper ack wait (redelivery after a kill)"`
	Grace        time.Duration `conf:"shutdown-grace" default:"15s" help:"gatekeeper shutdown grace; a SIGTERM must end within it"`
	MaxRSS       int64         `conf:"max-rss-mib" default:"0" help:"fail when a gatekeeper's peak RSS exceeds this (0: no limit)"`
	Policy       string        `conf:"policy" help:"policy file; empty: the soak's own (caps that bite)"`
	BinDir       string        `conf:"bin-dir" help:"directory holding gatekeeper and natsd; empty: build them"`
	WorkDir      string        `conf:"work-dir" help:"where servers keep their files; empty: a temporary directory, removed"`
	Timeout      time.Duration `conf:"timeout" default:"3h" help:"give up after this long"`
	Seed         int64         `conf:"seed" default:"1" help:"workload seed"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var s settings
	if err := config.Parse("HUSH_SOAK", &s, args, getenv, stdout); err != nil {
		return err
	}
	if s.Intents <= 0 || s.Gatekeepers <= 0 {
		return errors.New("--intents and --gatekeepers must be positive")
	}
	if s.Customers <= 0 {
		s.Customers = max(s.Intents/20, 1)
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	r, err := newRun(ctx, s, stdout)
	if err != nil {
		return err
	}
	defer r.close()
	rep, err := r.soak(ctx)
	if rep != nil {
		rep.print(stdout)
	}
	if err != nil {
		return err
	}
	return rep.verdict()
}
