package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestExplainAFoldedIntent: explain says which digest an intent was folded
// into, while it is pending and once it is released and decided.
func TestExplainAFoldedIntent(t *testing.T) {
	c := newCLI(t)
	// The release schedule fires on the server's clock: the gatekeeper's
	// must be the real one, so that 03:00 is ahead.
	c.now = time.Now().UTC().Truncate(time.Second)
	next := time.Date(c.now.Year(), c.now.Month(), c.now.Day(), 3, 0, 0, 0, time.UTC)
	if !next.After(c.now) {
		next = next.AddDate(0, 0, 1)
	}
	c.env["HUSH_POLICY"] = "testdata/digest.yaml"
	pol, err := policy.LoadOrDefault("testdata/digest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, js, err := connect.NATS(c.nats.URL, connect.NATSOptions{Name: "test-gatekeeper"})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: c.redis.Client.Options().Addr})
	t.Cleanup(func() { rdb.Close() })
	gk := gatekeeper.New(js, store.New(rdb, c.redis.Prefix), pol, gatekeeper.Options{Workers: 1, Now: c.clock, Subjects: c.subjects()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	publish := func(id string) {
		it := &hushv1.ContactIntent{Id: id, CustomerId: "reader", Channel: "email", Category: "newsletter",
			Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.New(c.clock())}
		msg, err := bus.NewMsg(c.subjects().Intent("campaigns", "email"), id, it)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
		}
	}
	id := store.DigestID("reader", "email", 1)
	publish("n-1")
	wait("n-1 folded", func() bool {
		p, ok, _ := c.store.PendingDigest(context.Background(), "reader", id)
		return ok && p.Count == 1
	})
	out := c.run("explain", "n-1", "--customer", "reader")
	for _, want := range []string{"folded", "folded_into_digest", "digest " + id + ":", "pending, 1 intents", next.Format(time.RFC3339) + " (schedule)"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain of a pending fold does not say %q:\n%s", want, out)
		}
	}
	publish("n-2")
	wait("the digest decided", func() bool {
		d, _ := c.store.DigestDecision(context.Background(), "reader", id)
		return d != nil
	})
	out = c.run("explain", "n-1", "--customer", "reader")
	for _, want := range []string{"released, 2 intents", "approved", "one Digest dispatched, counted once"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain of a released fold does not say %q:\n%s", want, out)
		}
	}
}

// TestPrefsSetDigest: an operator records "one summary a day" for a
// customer, validated against the policy like the preference page.
func TestPrefsSetDigest(t *testing.T) {
	c := newCLI(t)
	c.env["HUSH_POLICY"] = "testdata/digest.yaml"
	out := c.run("prefs", "set", "ada", "--digest", "newsletter@07:15")
	if !strings.Contains(out, "newsletter at 07:15") {
		t.Errorf("prefs set --digest:\n%s", out)
	}
	p, _, err := c.store.Preferences(context.Background(), "ada")
	if err != nil || p.GetDigest().GetAt() != "07:15" || len(p.GetDigest().GetCategories()) != 1 {
		t.Fatalf("Redis: %v %v", p, err)
	}
	if _, _, err := c.try("prefs", "set", "ada", "--digest", "transactional@07:15"); err == nil || !strings.Contains(err.Error(), "digest.categories") {
		t.Errorf("a transactional digest: %v", err)
	}
	if out := c.run("prefs", "set", "ada", "--digest", "none"); !strings.Contains(out, "digest                   -") {
		t.Errorf("prefs set --digest none:\n%s", out)
	}
}
