// Command natsd runs the NATS server pinned in go.mod (JetStream on) as a
// process of its own, so that the soak can kill and restart it and measure
// its fsync settings. It is a test and measurement tool; deploy/ ships the
// real server's configuration.
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

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hush-oss/hush/internal/platform/config"
)

type settings struct {
	Host     string `conf:"host" default:"127.0.0.1" help:"address to listen on"`
	Port     int    `conf:"port" default:"4222" help:"client port"`
	StoreDir string `conf:"store-dir" help:"JetStream directory (required)"`
	Sync     string `conf:"sync" default:"always" help:"JetStream fsync: always, or an interval such as 2m (the server's default)"`
	Config   string `conf:"config" help:"a nats-server configuration file, loaded first"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var s settings
	if err := config.Parse("NATSD", &s, args, getenv, stdout); err != nil {
		return err
	}
	if s.StoreDir == "" {
		return errors.New("--store-dir is required")
	}
	opts := &server.Options{}
	if s.Config != "" {
		var err error
		if opts, err = server.ProcessConfigFile(s.Config); err != nil {
			return fmt.Errorf("nats config %s: %w", s.Config, err)
		}
	}
	opts.Host, opts.Port = s.Host, s.Port
	opts.JetStream, opts.StoreDir = true, s.StoreDir
	opts.NoSigs, opts.NoLog = true, true
	if s.Sync == "always" {
		opts.SyncAlways = true
	} else {
		d, err := time.ParseDuration(s.Sync)
		if err != nil {
			return fmt.Errorf("--sync: want always or a duration, got %q", s.Sync)
		}
		opts.SyncInterval = d
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return errors.New("nats server not ready after 30s")
	}
	fmt.Fprintf(stdout, "natsd: listening on %s, store %s, sync %s\n", ns.ClientURL(), s.StoreDir, s.Sync)
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return nil
}
