// Command demo plays the parts around Hush in a demonstration: `demo produce`
// publishes a realistic stream of contact intents, `demo sink` consumes the
// dispatch stream like a channel sender and logs what it would send, with
// destinations masked.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/demo"
	"github.com/hush-oss/hush/internal/platform/config"
	"github.com/hush-oss/hush/internal/platform/connect"
)

type settings struct {
	connect.NATSSettings `help.nats-url:"NATS server URL" help.nats-inbox-prefix:"subject prefix of replies; the sink's pulled dispatches arrive there (deploy/nats: _HUSH_INBOX.sink)"`
	Prefix               string  `conf:"prefix" default:"hush" help:"first token of every subject"`
	Burst                int     `conf:"burst" default:"100" help:"produce: intents published at start"`
	Rate                 float64 `conf:"rate" default:"2" help:"produce: intents per second after the burst (0: stop after the burst)"`
	Malformed            bool    `conf:"malformed" help:"produce: add a few invalid intents, to see the dead letters"`
}

const usage = `usage: demo produce|sink [flags]

  produce  publish demo contact intents (a burst, then a steady rate)
  sink     consume the dispatch stream and log what would be sent

`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "produce" && args[0] != "sink") {
		io.WriteString(stdout, usage)
		return errors.New("name a subcommand: produce or sink")
	}
	cmd := args[0]
	var s settings
	if err := config.Parse("HUSH", &s, args[1:], getenv, stdout); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil)).With("service", "demo-"+cmd)
	nc, js, err := connect.NATS(s.NATSURL, s.NATSSettings.Options("hush-demo-"+cmd, log))
	if err != nil {
		return err
	}
	defer nc.Close()
	subjects := bus.NewSubjects(s.Prefix)
	// The gatekeeper creates the streams; wait for them rather than race it.
	for {
		if _, err := js.Stream(ctx, subjects.Stream(bus.StreamIntents)); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
			log.Info("waiting for the Hush streams")
		}
	}
	if cmd == "sink" {
		return demo.Sink(ctx, js, subjects, log)
	}
	n, err := demo.Produce(ctx, js, subjects, demo.NewGenerator(uint64(time.Now().UnixNano())),
		demo.ProduceOptions{Burst: s.Burst, Rate: s.Rate, Malformed: s.Malformed})
	log.Info("produced", "intents", n)
	return err
}
