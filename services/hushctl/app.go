package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// common are the settings every command shares with the services.
type common struct {
	connect.NATSSettings `help.nats-inbox-prefix:"subject prefix of replies; give hushctl a private one (e.g. _HUSH_INBOX.ops) so that producers cannot read what it reads"`
	connect.RedisSettings
	Policy string `conf:"policy" help:"policy file (YAML); empty: the embedded default"`
	Prefix string `conf:"prefix" default:"hush" help:"first token of every subject and Redis key"`
	JSON   bool   `conf:"json" help:"print JSON instead of tables"`
}

// app is one command's run: settings, lazily opened connections, output.
type app struct {
	ctx            context.Context
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time
	name, usage    string
	c              common

	nc  *nats.Conn
	js  jetstream.JetStream
	rdb redis.UniversalClient
	pol *policy.Policy
}

// parse reads the command's flags into the common settings and cfgs and
// returns the positional arguments, checking there are between min and max.
func (a *app) parse(args []string, minPos, maxPos int, cfgs ...any) ([]string, error) {
	pos, err := parse(args, a.getenv, a.stdout, "Usage: hushctl "+a.usage+"\n", append([]any{&a.c}, cfgs...)...)
	if err != nil {
		return nil, err
	}
	if len(pos) < minPos || len(pos) > maxPos {
		return nil, fmt.Errorf("usage: hushctl %s", a.usage)
	}
	return pos, nil
}

func (a *app) subjects() bus.Subjects { return bus.NewSubjects(a.c.Prefix) }

func (a *app) jetstream() (jetstream.JetStream, error) {
	if a.js != nil {
		return a.js, nil
	}
	nc, js, err := connect.NATS(a.c.NATSURL, a.c.NATSSettings.Options("hushctl", nil))
	if err != nil {
		return nil, err
	}
	a.nc, a.js = nc, js
	return js, nil
}

func (a *app) store() (*store.Store, error) {
	if a.rdb == nil {
		rdb, err := connect.Redis(a.ctx, a.c.RedisURL, 4)
		if err != nil {
			return nil, err
		}
		a.rdb = rdb
	}
	return store.New(a.rdb, a.c.Prefix), nil
}

func (a *app) consent() (*consent.Service, error) {
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	return consent.New(st, js, consent.Options{Subjects: a.subjects(), Now: a.now}), nil
}

func (a *app) policy() (*policy.Policy, error) {
	if a.pol == nil {
		p, err := policy.LoadOrDefault(a.c.Policy)
		if err != nil {
			return nil, err
		}
		a.pol = p
	}
	return a.pol, nil
}

func (a *app) close() {
	if a.nc != nil {
		a.nc.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
}

// progress reports a long read on stderr, never on stdout.
func (a *app) progress(what string) func(read, total uint64) {
	return func(read, total uint64) {
		fmt.Fprintf(a.stderr, "%s: read %d of %d messages\n", what, read, total)
	}
}

// table prints rows under a header (none when nil), aligned.
func (a *app) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// fields prints name/value pairs, aligned.
func (a *app) fields(pairs [][2]string) {
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s\t%s\n", p[0], p[1])
	}
	tw.Flush()
}

// printJSON writes v as indented JSON; proto messages inside v must be
// converted with protoJSON first.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// protoJSON is a message as Hush documents it, ready to nest in printJSON.
func protoJSON(m proto.Message) json.RawMessage {
	if m == nil || !m.ProtoReflect().IsValid() {
		return json.RawMessage("null")
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// parseTime reads an absolute time (RFC 3339, or a date) or a duration
// back from now ("24h", "7d").
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-22T10:00:00Z), a date or a duration back from now (24h, 7d)", s)
}

// parseDuration accepts Go durations and whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && fmt.Sprint(n) == d {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
