package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/deferral"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// t0 is the clock of every golden test.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// cli runs hushctl against real NATS and Redis with a fixed clock.
type cli struct {
	t     *testing.T
	nats  *testenv.NATS
	redis *testenv.Redis
	js    jetstream.JetStream
	store *store.Store
	env   map[string]string

	mu  sync.Mutex
	now time.Time
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	c := &cli{t: t, nats: testenv.StartNATS(t), redis: testenv.StartRedis(t), now: t0}
	_, c.js = c.nats.Connect(t)
	testenv.EnsureStreams(t, c.js, bus.NewSubjects(c.redis.Prefix))
	c.store = store.New(c.redis.Client, c.redis.Prefix)
	c.env = map[string]string{
		"HUSH_NATS_URL": c.nats.URL, "HUSH_REDIS_URL": c.redis.URL, "HUSH_PREFIX": c.redis.Prefix,
		"HUSH_POLICY": "testdata/policy.yaml", "USER": "operator",
	}
	return c
}

// subjects are the test's own: its Redis prefix is also its subject prefix,
// as in the services (one --prefix).
func (c *cli) subjects() bus.Subjects { return bus.NewSubjects(c.redis.Prefix) }

func (c *cli) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *cli) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// run runs hushctl and returns its stdout; it fails the test on an error.
func (c *cli) run(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.try(args...)
	if err != nil {
		c.t.Fatalf("hushctl %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (c *cli) try(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := execute(context.Background(), args, func(k string) string { return c.env[k] }, &stdout, &stderr, c.clock)
	return stdout.String(), stderr.String(), err
}

// golden compares got with testdata/<name>.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, path, got, want)
	}
}

// exitOf runs hushctl and returns its error's exit code (0 without one).
func (c *cli) exitOf(args ...string) (int, error) {
	_, _, err := c.try(args...)
	if err == nil {
		return 0, nil
	}
	return exitCode(err), err
}

func TestPrefsCommands(t *testing.T) {
	c := newCLI(t)
	// An empty Redis is the wrong place, not a customer without wishes.
	if code, err := c.exitOf("prefs", "get", "c-1"); code != exitWrongHush || !strings.Contains(err.Error(), "holds no Hush keys") {
		t.Errorf("prefs get on an empty Redis: exit %d, %v; want %d", code, err, exitWrongHush)
	}
	c.advance(time.Minute)
	steps := []struct {
		golden string
		args   []string
	}{
		{"prefs-set", []string{"prefs", "set", "c-1", "--opt-out-channel", "sms,voice", "--opt-out-topic", "cooking",
			"--time-zone", "Europe/Paris", "--quiet-hours", "22:00-07:30", "--max-frequency", "3/7d", "--region", "FR"}},
		{"mode", []string{"mode", "c-1", "do_nothing", "--until", "2026-12-01T00:00:00Z"}},
		{"care-hold-set", []string{"care-hold", "set", "c-1", "--reason", "bereavement", "--actor", "agent-7", "--until", "30d"}},
		{"care-hold-clear", []string{"care-hold", "clear", "c-1", "--actor", "agent-7"}},
		{"prefs-set-opt-in", []string{"prefs", "set", "--opt-in-channel=voice", "c-1", "--consent", "revoked", "--quiet-hours", "none"}},
		{"prefs-get", []string{"prefs", "get", "c-1"}},
		{"prefs-get-json", []string{"prefs", "get", "c-1", "--json"}},
		{"prefs-history", []string{"prefs", "history", "c-1"}},
		{"prefs-history-json", []string{"prefs", "history", "--json", "c-1", "--since", "2026-11-22T10:04:00Z"}},
	}
	for _, s := range steps {
		golden(t, s.golden, c.run(s.args...))
		c.advance(time.Minute)
	}

	// Refusals name what is wrong and change nothing.
	for _, bad := range [][]string{
		{"prefs", "set", "c-1", "--opt-out-channel", "fax"},
		{"mode", "c-1", "sleepy"},
		{"care-hold", "set", "c-1"},
		{"prefs", "set", "c-1", "--quiet-hours", "25:00-07:00"},
		{"prefs", "set", "c-1", "--max-frequency", "1/90d"}, // longer than the contact ledger keeps
		{"prefs", "get"},
		{"prefs", "get", "c-1", "--colour", "blue"},
		{"nonsense"},
	} {
		if _, _, err := c.try(bad...); err == nil {
			t.Errorf("hushctl %s: no error", strings.Join(bad, " "))
		}
	}
	if _, v, _ := c.store.Preferences(context.Background(), "c-1"); v != 5 {
		t.Errorf("version %d after refused commands, want 5", v)
	}
	// An unknown customer is "no record", never the defaults as facts.
	out, _, err := c.try("prefs", "get", "c-unknown")
	if code := exitCode(err); code != exitNoRecord || strings.Contains(out, "consent") || !strings.Contains(err.Error(), "no record") {
		t.Errorf("prefs get of an unknown customer: exit %d, %v\n%s", code, err, out)
	}
	if code, err := c.exitOf("counters", "c-unknown"); code != exitNoRecord {
		t.Errorf("counters of an unknown customer: exit %d, %v", code, err)
	}
}

func TestWrongPlaceIsSaidAndExitsNonZero(t *testing.T) {
	c := newCLI(t)
	c.run("prefs", "set", "c-1", "--opt-out-channel", "sms")
	// A NATS without Hush's streams (another prefix, another server).
	c.env["HUSH_PREFIX"] = "elsewhere"
	for _, args := range [][]string{{"suppressions", "tail"}, {"streams"}, {"prefs", "get", "c-1"}} {
		code, err := c.exitOf(args...)
		if code != exitWrongHush || err == nil || !strings.Contains(err.Error(), "no Hush") {
			t.Errorf("hushctl %s with prefix elsewhere: exit %d, %v", strings.Join(args, " "), code, err)
		}
	}
	c.env["HUSH_PREFIX"] = c.redis.Prefix
	// Unreachable servers.
	c.env["HUSH_REDIS_URL"] = "redis://127.0.0.1:1/0"
	if code, err := c.exitOf("prefs", "get", "c-1"); code != exitWrongHush || !strings.Contains(err.Error(), "cannot reach Redis") {
		t.Errorf("unreachable Redis: exit %d, %v", code, err)
	}
	c.env["HUSH_REDIS_URL"] = c.redis.URL
	c.env["HUSH_NATS_URL"] = "nats://127.0.0.1:1"
	if code, err := c.exitOf("suppressions", "query"); code != exitWrongHush || !strings.Contains(err.Error(), "cannot reach NATS") {
		t.Errorf("unreachable NATS: exit %d, %v", code, err)
	}
}

func TestFlagsAreValidated(t *testing.T) {
	c := newCLI(t)
	c.run("prefs", "set", "c-1", "--opt-out-channel", "sms")
	for _, bad := range []struct {
		args []string
		says string
	}{
		{[]string{"suppressions", "tail", "--reason", "opted-out"}, "did you mean opted_out"},
		{[]string{"suppressions", "query", "--reason", "nonsense"}, "not a reason code or rule id"},
		{[]string{"suppressions", "tail", "--channel", "pigeon"}, "not a channel"},
		{[]string{"suppressions", "tail", "--limit", "-3"}, "--limit -3"},
		{[]string{"suppressions", "tail", "--outcome", "approved"}, "--outcome"},
		{[]string{"suppressions", "query", "--since", "2026-11-22T10:00:00Z", "--until", "2026-11-21"}, "before --since"},
		{[]string{"mode", "c-1", "do_nothing", "--until", "2026-01-01T00:00:00Z"}, "not in the future"},
		{[]string{"care-hold", "set", "c-1", "--reason", "x", "--until", "-3d"}, "not in the future"},
	} {
		_, _, err := c.try(bad.args...)
		if err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("hushctl %s: %v; want an error saying %q", strings.Join(bad.args, " "), err, bad.says)
		}
	}
	for _, ok := range [][]string{
		{"suppressions", "tail", "--reason", "opted_out"},
		{"suppressions", "tail", "--reason", "cap.customer-hourly", "--channel", "sms", "--outcome", "deferred"},
		// Shared flags before the command.
		{"--json", "suppressions", "query"},
		{"--prefix", c.redis.Prefix, "prefs", "get", "c-1"},
	} {
		c.run(ok...)
	}
	if out := c.run("--json", "prefs", "get", "c-1"); !strings.Contains(out, `"preferences"`) {
		t.Errorf("--json before the command was not applied:\n%s", out)
	}
}

func TestPrefsRebuildRestoresAWipedRedis(t *testing.T) {
	c := newCLI(t)
	c.run("prefs", "set", "c-1", "--opt-out-channel", "sms", "--time-zone", "Europe/Paris")
	c.run("mode", "c-2", "essential_only")
	c.run("care-hold", "set", "c-2", "--reason", "hardship")
	c.run("prefs", "set", "c-1", "--opt-out-category", "survey")
	before := c.run("prefs", "get", "c-1") + c.run("prefs", "get", "c-2")

	ctx := context.Background()
	keys, err := c.redis.Client.Keys(ctx, c.redis.Prefix+":*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if err := c.redis.Client.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if code, err := c.exitOf("prefs", "get", "c-1"); code != exitWrongHush {
		t.Fatalf("wipe left preferences, or was not said: exit %d, %v", code, err)
	}

	out, progress, err := c.try("prefs", "rebuild")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "prefs-rebuild", out)
	if !strings.Contains(progress, "read 4 of 4 messages") {
		t.Errorf("no progress on stderr: %q", progress)
	}
	if after := c.run("prefs", "get", "c-1") + c.run("prefs", "get", "c-2"); after != before {
		t.Fatalf("rebuilt preferences differ:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

// decisions runs a real gatekeeper on the test policy with the test's
// clock and decides a scripted day of intents, one at a time.
func (c *cli) decisions() {
	c.t.Helper()
	pol, err := policy.LoadOrDefault("testdata/policy.yaml")
	if err != nil {
		c.t.Fatal(err)
	}
	_, js, err := connect.NATS(c.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		c.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.redis.Client.Options().Addr})
	c.t.Cleanup(func() { rdb.Close() })
	gk := gatekeeper.New(js, store.New(rdb, c.redis.Prefix), pol, gatekeeper.Options{Workers: 1, Now: c.clock, Subjects: c.subjects(),
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	c.t.Cleanup(func() { cancel(); <-done })

	c.run("prefs", "set", "quiet-one", "--opt-out-channel", "sms")
	script := []struct{ id, customer, channel, category, topic string }{
		{"m-1", "busy", "email", "marketing", "sale"},
		{"m-2", "busy", "email", "marketing", "sale"},
		{"m-3", "busy", "email", "marketing", "news"}, // email-daily full
		{"m-4", "busy", "push", "marketing", "news"},
		{"m-5", "busy", "push", "survey", "nps"},                      // customer-hourly full
		{"r-1", "receipts-only", "email", "transactional", "receipt"}, // another customer: busy's windows hold marketing only
		{"s-1", "quiet-one", "sms", "marketing", "sale"},              // opted out
		{"s-2", "quiet-one", "email", "marketing", "sale"},
		{"c-1", "quiet-one", "sms", "critical", "fraud"}, // critical passes
	}
	for _, s := range script {
		it := &hushv1.ContactIntent{Id: s.id, CustomerId: s.customer, Channel: s.channel, Category: s.category, Topic: s.topic,
			Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.New(c.clock())}
		msg, err := bus.NewMsg(c.subjects().Intent("campaigns", s.channel), s.id, it)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
			c.t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			d, err := c.store.Decision(context.Background(), s.customer, s.id)
			if err != nil {
				c.t.Fatal(err)
			}
			if d != nil {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s not decided", s.id)
			}
		}
		c.advance(5 * time.Minute)
	}
	// Wait until every outcome is published and every intent acknowledged.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, _ := c.js.Stream(context.Background(), c.subjects().Stream(bus.StreamSuppressed))
		info, _ := st.Info(context.Background())
		cons, err := c.js.Consumer(context.Background(), c.subjects().Stream(bus.StreamIntents), "gatekeeper")
		if err != nil {
			c.t.Fatal(err)
		}
		ci, err := cons.Info(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		if info.State.Msgs == 3 && ci.AckFloor.Stream == uint64(len(script)) && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("suppression log holds %d, want 3", info.State.Msgs)
		}
	}
}

func TestDecisionCommands(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	steps := []struct {
		golden string
		args   []string
	}{
		{"suppressions-query", []string{"suppressions", "query"}},
		{"suppressions-query-busy-cap", []string{"suppressions", "query", "--customer", "busy", "--reason", "frequency_cap", "--since", "2026-11-22T10:12:00Z"}},
		{"suppressions-query-channel-json", []string{"suppressions", "query", "--channel", "sms", "--json"}},
		{"suppressions-tail", []string{"suppressions", "tail", "--limit", "2"}},
		{"explain-cap", []string{"explain", "m-5"}},
		{"explain-opted-out", []string{"explain", "s-1", "--customer", "quiet-one"}},
		{"explain-approved", []string{"explain", "m-2"}},
		{"explain-json", []string{"explain", "m-3", "--json"}},
		{"explain-customer", []string{"explain", "m-3", "--customer", "busy"}},
		{"counters", []string{"counters", "busy", "--at", "2026-11-22T10:30:00Z"}},
		{"counters-later", []string{"counters", "busy", "--at", "2026-11-22T11:12:00Z", "--json"}},
	}
	for _, s := range steps {
		golden(t, s.golden, c.run(s.args...))
	}
	if _, _, err := c.try("explain", "no-such-intent"); err == nil || !strings.Contains(err.Error(), "--customer") || exitCode(err) != exitNoRecord {
		t.Errorf("explain of an unknown intent: %v", err)
	}
	// With --customer the sender's window is read as without it: the
	// sender comes from the suppression log, not from nowhere.
	if out := c.run("explain", "m-3", "--customer", "busy"); !regexp.MustCompile(`cap\.sender-daily +sender +campaigns +1d +2 +50`).MatchString(out) {
		t.Errorf("explain --customer shows no sender window:\n%s", out)
	}
}

// scrub hides what differs from run to run: server times and sizes.
var (
	scrub  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z|\d+(\.\d)? (B|KiB|MiB)`)
	spaces = regexp.MustCompile(` {2,}`)
)

func TestStreams(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	out := scrub.ReplaceAllString(c.run("streams"), "<scrubbed>")
	out = strings.NewReplacer(c.redis.Prefix, "hush", strings.ToUpper(c.redis.Prefix), "HUSH").Replace(out)
	golden(t, "streams", spaces.ReplaceAllString(out, "  "))
	if err := c.js.DeleteStream(context.Background(), c.subjects().Stream(bus.StreamDeadLetter)); err != nil {
		t.Fatal(err)
	}
	if out := c.run("streams", "--json"); !strings.Contains(out, `"error": "missing: `) {
		t.Errorf("a missing stream must be reported:\n%s", out)
	}
}

func TestHelp(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"--help"}, {"prefs", "set", "--help"}, {"suppressions", "query", "-h"}, {"prefs", "--help"}, {"deferred", "-h"}} {
		out, _, err := c.try(args...)
		if err == nil || !strings.Contains(out, "Usage: hushctl") {
			t.Errorf("hushctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, _, _ := c.try("help")
	golden(t, "help", out)
}

func TestDeferredListAndCancel(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	// Two deferrals as the gatekeeper stores them: message schedules on
	// the deferred stream.
	for i, id := range []string{"q-1", "q-2"} {
		it := &hushv1.ContactIntent{Id: id, CustomerId: "night-owl", Channel: "sms", Category: "marketing", Topic: "sale",
			Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.New(t0)}
		data, err := proto.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		release := time.Date(2099, 1, 1, 8, i, 0, 0, time.UTC)
		msg := deferral.ScheduleMsg(c.subjects(), it, c.subjects().Intent("campaigns", "sms"), data, nats.Header{}, release)
		if _, err := c.js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	out := scrub.ReplaceAllStringFunc(c.run("deferred", "list", "night-owl"), func(s string) string {
		if strings.HasPrefix(s, "2099") {
			return s
		}
		return "<scrubbed>"
	})
	golden(t, "deferred-list", spaces.ReplaceAllString(out, "  "))

	golden(t, "deferred-cancel", c.run("deferred", "cancel", "night-owl", "q-1"))
	if _, _, err := c.try("deferred", "cancel", "night-owl", "q-1"); err == nil || !strings.Contains(err.Error(), "no pending deferral") {
		t.Fatalf("second cancel: %v", err)
	}
	if out := c.run("deferred", "list", "night-owl", "--json"); strings.Contains(out, `"q-1"`) || !strings.Contains(out, `"q-2"`) {
		t.Fatalf("after cancelling q-1:\n%s", out)
	}
	d, err := c.store.Decision(ctx, "night-owl", "q-1")
	if err != nil || d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetRule() != deferral.RuleCancelled ||
		d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_DEFERRAL_CANCELLED {
		t.Fatalf("decision of q-1 after cancel: %v, %v", d, err)
	}
	if out := c.run("suppressions", "query", "--customer", "night-owl"); !strings.Contains(out, "deferral.cancelled") {
		t.Fatalf("the cancellation is not in the suppression log:\n%s", out)
	}
	var cancelled []string
	if _, err := c.subjects().ReadHistory(ctx, c.js, "night-owl", t0.Add(-time.Hour), func(rec *hushv1.SuppressionRecord, _ bool) error {
		cancelled = append(cancelled, rec.GetDecision().GetIntentId())
		return nil
	}); err != nil || len(cancelled) != 1 || cancelled[0] != "q-1" {
		t.Fatalf("the customer's contact history holds %v (%v), want the cancelled q-1", cancelled, err)
	}
}

func TestSuppressionsTailFollows(t *testing.T) {
	c := newCLI(t)
	var out, errOut testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- execute(ctx, []string{"suppressions", "tail", "--follow", "--customer", "late"}, func(k string) string { return c.env[k] }, &out, &errOut, c.clock)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "DECIDED"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no header within 10s; stderr: %s", errOut.String())
		}
	}
	time.Sleep(200 * time.Millisecond) // the follower is subscribed
	for _, customer := range []string{"other", "late"} {
		rec := &hushv1.SuppressionRecord{Decision: &hushv1.Decision{IntentId: "x-" + customer, CustomerId: customer, Channel: "email",
			Category: "marketing", Outcome: hushv1.Outcome_OUTCOME_SUPPRESSED, DecidedAt: timestamppb.New(t0),
			Reasons: []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT, Rule: "opt_out.channel", Message: "customer unsubscribed from email"}}}}
		msg, err := bus.NewMsg(c.subjects().Suppressed("email"), "x-"+customer, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "x-late"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("followed suppression not printed within 10s:\n%s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	golden(t, "suppressions-tail-follow", out.String())
}

// TestPolicyInForce reads the policy the gatekeeper publishes, not a file of
// hushctl's own: counters use the version in force, explain the version
// that made the decision, and both print it.
func TestPolicyInForce(t *testing.T) {
	c := newCLI(t)
	c.decisions() // the gatekeeper runs testdata/policy.yaml, version golden-1
	delete(c.env, "HUSH_POLICY")
	out := c.run("counters", "busy", "--at", "2026-11-22T10:30:00Z")
	if !strings.Contains(out, "policy golden-1 (in force, from "+c.subjects().PolicyBucket()+")") {
		t.Errorf("counters does not name the policy in force:\n%s", out)
	}
	// A reload: golden-2 allows 5 an hour.
	text, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.NewReplacer("golden-1", "golden-2", "window: 1h, max: 3", "window: 1h, max: 5").Replace(string(text)))
	if !strings.Contains(string(text), "max: 5") {
		t.Fatal("test policy changed shape")
	}
	if err := bus.PublishPolicy(context.Background(), c.js, c.subjects(), "golden-2", text, 1); err != nil {
		t.Fatal(err)
	}
	out = c.run("counters", "busy", "--at", "2026-11-22T10:30:00Z")
	if !strings.Contains(out, "policy golden-2 (in force") || !regexp.MustCompile(`cap\.customer-hourly +customer +- +1h +\d+ +5 `).MatchString(out) {
		t.Errorf("counters after the reload:\n%s", out)
	}
	out = c.run("explain", "m-5")
	if !strings.Contains(out, "policy golden-1, the version that decided") || !regexp.MustCompile(`cap\.customer-hourly +customer +- +1h +3 +3 `).MatchString(out) {
		t.Errorf("explain does not read with the version that decided:\n%s", out)
	}
	// No policy published at all: said, not guessed.
	if err := c.js.DeleteKeyValue(context.Background(), c.subjects().PolicyBucket()); err != nil {
		t.Fatal(err)
	}
	if code, err := c.exitOf("counters", "busy"); code != exitWrongHush || !strings.Contains(err.Error(), "no policy in force") {
		t.Errorf("counters without a published policy: exit %d, %v", code, err)
	}
}

// TestDeadLetters dead-letters two messages through a real gatekeeper (JSON
// without its Content-Type, and bytes that are no intent) and lists and
// shows them, decoded, each with its hint.
func TestDeadLetters(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	if out := c.run("deadletters", "list"); !strings.Contains(out, "no dead letters") {
		t.Errorf("before any:\n%s", out)
	}
	ctx := context.Background()
	for _, data := range [][]byte{
		[]byte(`{"id":"j-1","customerId":"c-9","channel":"email","category":"marketing","sender":{"service":"py"}}`),
		{0xff, 0x01, 0x02},
	} {
		if _, err := c.js.Publish(ctx, c.subjects().Intent("py", "email"), data); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, _ := c.js.Stream(ctx, c.subjects().Stream(bus.StreamDeadLetter))
		if info, _ := st.Info(ctx); info != nil && info.State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("two dead letters not published within 30s")
		}
	}
	out := scrub.ReplaceAllString(c.run("deadletters", "list"), "<scrubbed>")
	out = strings.ReplaceAll(out, c.redis.Prefix, "hush")
	golden(t, "deadletters-list", spaces.ReplaceAllString(out, "  "))
	show := c.run("deadletters", "show", "1")
	for _, want := range []string{"JSON without `Content-Type: application/json`", "stage", "decode", `"customerId":"c-9"`} {
		if !strings.Contains(show, want) {
			t.Errorf("deadletters show 1 lacks %q:\n%s", want, show)
		}
	}
	if show := c.run("deadletters", "show", "2", "--json"); !strings.Contains(show, `"body": "hex ff0102"`) || !strings.Contains(show, "not a ContactIntent in protobuf") {
		t.Errorf("deadletters show 2:\n%s", show)
	}
	if code, err := c.exitOf("deadletters", "show", "9"); code != exitNoRecord {
		t.Errorf("an unknown dead letter: exit %d, %v", code, err)
	}
	if _, _, err := c.try("deadletters", "list", "--stage", "oops"); err == nil {
		t.Error("--stage oops accepted")
	}
}
