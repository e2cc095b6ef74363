// Command prefs serves the preferences API, one-click unsubscribe and the
// preference-centre page: customers' wishes go to Redis and to the durable
// consent history on NATS.
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
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones without the host's tzdata

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/config"
	"github.com/hush-oss/hush/internal/platform/connect"
	"github.com/hush-oss/hush/pkg/links"
)

type settings struct {
	Listen               string `conf:"listen" default:":8080" help:"address to serve HTTP(S) on"`
	TLSCert              string `conf:"tls-cert" help:"TLS certificate file (PEM); with --tls-key serves HTTPS"`
	TLSKey               string `conf:"tls-key" help:"TLS private key file (PEM)"`
	TokensFile           string `conf:"tokens-file" help:"bearer tokens, one per line: <subject> <token> <scope>... (scopes: admin, staff, customer:<id>, producer:<name>)"`
	Tokens               string `conf:"tokens" secret:"true" help:"bearer tokens in the tokens-file format, entries separated by ';' (added to --tokens-file)"`
	LinkKeys             string `conf:"link-keys" secret:"true" help:"comma-separated keys (32+ bytes each) signing unsubscribe and preference links; the first signs, all verify; empty disables /u/ and /p/"`
	Brand                string `conf:"brand" help:"whose preferences these are, as customers know the business (\"Acme Bank\"); the preference and unsubscribe pages name it"`
	PublicURL            string `conf:"public-url" default:"http://localhost:8080" help:"the address customers reach this service at; the base of the links it makes (https in production)"`
	connect.NATSSettings `default.nats-inbox-prefix:"_HUSH_INBOX.prefs" help.nats-inbox-prefix:"subject prefix of replies; the consent history it reads arrives there, and deploy/nats lets only prefs read it"`
	connect.RedisSettings
	Policy         string        `conf:"policy" help:"policy file (YAML) naming the categories; empty: the embedded default"`
	Prefix         string        `conf:"prefix" default:"hush" help:"first token of every subject and Redis key"`
	Replicas       int           `conf:"stream-replicas" default:"1" help:"replicas of the streams created at start-up (3 on a cluster)"`
	MaxBody        int64         `conf:"max-body" default:"65536" help:"largest request body, bytes"`
	ReadTimeout    time.Duration `conf:"read-timeout" default:"10s" help:"time to read a whole request"`
	WriteTimeout   time.Duration `conf:"write-timeout" default:"15s" help:"time to write a response"`
	IdleTimeout    time.Duration `conf:"idle-timeout" default:"60s" help:"keep-alive idle time"`
	OutboxInterval time.Duration `conf:"outbox-interval" default:"10s" help:"how often consent-history entries NATS did not take are published again"`
	Grace          time.Duration `conf:"shutdown-grace" default:"10s" help:"time to finish requests after SIGTERM"`
	LogLevel       string        `conf:"log-level" default:"info" help:"debug, info, warn or error"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil && !errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(os.Stderr, "prefs:", err)
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
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})).With("service", "prefs")
	log.Info("starting", "config", config.String("HUSH", &s))

	tokens, err := loadTokens(s.TokensFile, s.Tokens)
	if err != nil {
		return err
	}
	if tokens.Len() == 0 {
		log.Warn("no bearer tokens configured: every /v1 request is refused (see --tokens-file)")
	}
	var signer *links.Signer
	if s.LinkKeys != "" {
		var keys [][]byte
		for _, k := range strings.Split(s.LinkKeys, ",") {
			keys = append(keys, []byte(strings.TrimSpace(k)))
		}
		if signer, err = links.NewSigner(keys...); err != nil {
			return fmt.Errorf("--link-keys: %w", err)
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	pol, err := policy.LoadOrDefault(s.Policy)
	if err != nil {
		return err
	}
	nc, js, err := connect.NATS(s.NATSURL, s.NATSSettings.Options("hush-prefs", log))
	if err != nil {
		return err
	}
	defer nc.Close()
	rdb, err := connect.Redis(ctx, s.RedisURL, 32)
	if err != nil {
		return err
	}
	defer rdb.Close()
	subjects := bus.NewSubjects(s.Prefix)
	so := bus.DefaultStreamOptions()
	so.Replicas = s.Replicas
	so.DuplicateWindow = 0 // the gatekeeper's setting (--duplicate-window); keep it
	if err := subjects.EnsureStreams(ctx, js, so); err != nil {
		return err
	}

	st := store.New(rdb, s.Prefix)
	svc := consent.New(st, js, consent.Options{Subjects: subjects, Logger: log})
	// Decisions are explained with the policy that made them, as the
	// gatekeepers publish it; this service's own file when none is.
	explainer := &explain.Explainer{JS: js, Store: st, Subjects: subjects,
		PolicyFor: func(ctx context.Context, version string) (*policy.Policy, string, error) {
			p, source, err := explain.PublishedPolicy(ctx, js, subjects, version)
			if errors.Is(err, bus.ErrNoPolicy) {
				return pol, "the preference service's policy (no policy in force is published)", nil
			}
			return p, source, err
		}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := prefsapi.New(prefsapi.Options{Consent: svc, JS: js, Subjects: subjects, Policy: pol, Tokens: tokens, Explainer: explainer,
		Links: signer, Brand: s.Brand, PublicURL: s.PublicURL, MaxBody: s.MaxBody, Registry: reg, Logger: log, Checker: st,
		CheckPolicy: (&prefsapi.InForce{JS: js, Subjects: subjects, Fallback: pol, Logger: log}).Policy,
		Ready: func(ctx context.Context) error {
			if !nc.IsConnected() {
				return errors.New("nats not connected")
			}
			return rdb.Ping(ctx).Err()
		}})
	srv := &http.Server{Addr: s.Listen, Handler: api.Handler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout, IdleTimeout: s.IdleTimeout, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Listen, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "tls", s.TLSCert != "", "links", signer != nil, "tokens", tokens.Len())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if s.TLSCert != "" {
			err = srv.ServeTLS(ln, s.TLSCert, s.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	g.Go(func() error { return svc.RunOutbox(gctx, s.OutboxInterval) })
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), s.Grace)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	if _, ferr := svc.FlushOutbox(context.Background()); ferr != nil {
		log.Warn("consent history left in the outbox for the next start", "err", ferr)
	}
	if nerr := nc.Drain(); nerr != nil && err == nil {
		err = nerr
	}
	log.Info("stopped")
	return err
}

func loadTokens(file, inline string) (*prefsapi.Tokens, error) {
	var src strings.Builder
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--tokens-file: %w", err)
		}
		src.Write(b)
		src.WriteString("\n")
	}
	src.WriteString(inline)
	t, err := prefsapi.ParseTokens(strings.NewReader(src.String()))
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return t, nil
}
