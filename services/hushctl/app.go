package main

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/config"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// common are the settings every command shares with the services.
type common struct {
	connect.NATSSettings `help.nats-inbox-prefix:"subject prefix of replies; give hushctl a private one (e.g. _HUSH_INBOX.ops) so that producers cannot read what it reads"`
	connect.RedisSettings
	Policy string `conf:"policy" help:"read with this policy file (YAML); empty: the policy the gatekeepers publish as in force (and, to explain a decision, the version that made it)"`
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
	// polSource says where pol came from.
	polSource string
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

// Exit codes, as the usage text documents them.
const (
	exitError     = 1 // anything else that went wrong
	exitNoRecord  = 3 // the customer, intent or dead letter is unknown
	exitWrongHush = 4 // NATS or Redis unreachable, or holding no Hush
)

// errNoRecord is an answer, not a failure: Hush holds nothing about what
// was asked. It is never dressed up as defaults.
type errNoRecord struct{ what string }

func (e errNoRecord) Error() string { return "no record: " + e.what }

// errWrongHush says hushctl cannot answer from the place it was pointed at.
type errWrongHush struct{ msg string }

func (e errWrongHush) Error() string {
	return e.msg + "; point hushctl at your Hush with --nats-url, --redis-url and --prefix (or HUSH_NATS_URL, HUSH_REDIS_URL, HUSH_PREFIX; `make run` prints them)"
}

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	var nr errNoRecord
	var wh errWrongHush
	switch {
	case errors.As(err, &nr):
		return exitNoRecord
	case errors.As(err, &wh):
		return exitWrongHush
	}
	return exitError
}

func (a *app) jetstream() (jetstream.JetStream, error) {
	if a.js != nil {
		return a.js, nil
	}
	nc, js, err := connect.NATS(a.c.NATSURL, a.c.NATSSettings.Options("hushctl", nil))
	if err != nil {
		return nil, errWrongHush{fmt.Sprintf("cannot reach NATS at %s: %v", config.MaskURL(a.c.NATSURL), err)}
	}
	// A NATS without Hush's streams is the wrong NATS (another one on the
	// default port, or another prefix): its silence must not read as "no
	// suppressions".
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	intents := a.subjects().Stream(bus.StreamIntents)
	if _, err := js.Stream(ctx, intents); err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, errWrongHush{fmt.Sprintf("NATS at %s holds no Hush streams (no %s for prefix %q)", config.MaskURL(a.c.NATSURL), intents, a.c.Prefix)}
		}
		return nil, errWrongHush{fmt.Sprintf("NATS at %s: JetStream does not answer: %v", config.MaskURL(a.c.NATSURL), err)}
	}
	a.nc, a.js = nc, js
	return js, nil
}

func (a *app) store() (*store.Store, error) {
	if a.rdb == nil {
		rdb, err := connect.Redis(a.ctx, a.c.RedisURL, 4)
		if err != nil {
			return nil, errWrongHush{fmt.Sprintf("cannot reach Redis at %s: %v", config.MaskURL(a.c.RedisURL), err)}
		}
		a.rdb = rdb
	}
	return store.New(a.rdb, a.c.Prefix), nil
}

// noRecord is the error for something Redis does not hold, unless Redis
// holds no Hush keys at all: then hushctl is looking in the wrong place,
// and says so rather than "no record".
func (a *app) noRecord(what string) error {
	if a.rdb != nil {
		found := false
		err := scanPrefix(a.ctx, a.rdb, a.c.Prefix+":*", func() { found = true })
		if err == nil && !found {
			return errWrongHush{fmt.Sprintf("Redis at %s holds no Hush keys (none under %q)", config.MaskURL(a.c.RedisURL), a.c.Prefix+":")}
		}
	}
	return errNoRecord{what}
}

// scanPrefix calls found when a key matches pattern on any node, stopping
// at the first.
func scanPrefix(ctx context.Context, rdb redis.UniversalClient, pattern string, found func()) error {
	scanOne := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		if iter.Next(ctx) {
			found()
		}
		return iter.Err()
	}
	switch c := rdb.(type) {
	case *redis.Client:
		return scanOne(ctx, c)
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, scanOne)
	}
	return nil
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

// policy is the policy in force (see policyFor).
func (a *app) policy() (*policy.Policy, error) {
	if a.pol == nil {
		p, source, err := a.policyFor("")
		if err != nil {
			return nil, err
		}
		a.pol, a.polSource = p, source
	}
	return a.pol, nil
}

// policyFor returns the policy of a version, with where it came from: the
// file given with --policy when there is one (the operator's choice), or
// else the policies the gatekeepers publish (bus.PublishPolicy). An empty
// version is the version in force; a version no longer published is read
// with the one in force, and the source says so.
func (a *app) policyFor(version string) (*policy.Policy, string, error) {
	if a.c.Policy != "" {
		p, err := policy.LoadOrDefault(a.c.Policy)
		if err != nil {
			return nil, "", err
		}
		return p, "file " + a.c.Policy + " (--policy)", nil
	}
	js, err := a.jetstream()
	if err != nil {
		return nil, "", err
	}
	p, source, err := explain.PublishedPolicy(a.ctx, js, a.subjects(), version)
	if errors.Is(err, bus.ErrNoPolicy) {
		return nil, "", errWrongHush{fmt.Sprintf("NATS at %s holds no policy in force (%v): no gatekeeper has started on it; give --policy FILE to read with a file", config.MaskURL(a.c.NATSURL), err)}
	}
	return p, source, err
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

// period reads --since and --until (see parseTime), both back from the
// same now; it refuses an --until before --since. Zero times are unset.
func period(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseTime(since, now); err != nil {
		return from, to, fmt.Errorf("--since: %w", err)
	}
	if to, err = parseTime(until, now); err != nil {
		return from, to, fmt.Errorf("--until: %w", err)
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, fmt.Errorf("--until %s is before --since %s", ts(to), ts(from))
	}
	return from, to, nil
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
