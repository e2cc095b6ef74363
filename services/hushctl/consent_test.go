package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestPrefsShowConsentAndItsProof: prefs get and prefs history show who
// gave consent, when and how, and the STOP revocations with their deadline.
func TestPrefsShowConsentAndItsProof(t *testing.T) {
	c := newCLI(t)
	svc := consent.New(c.store, c.js, consent.Options{Subjects: c.subjects(), Now: c.clock})
	given := time.Date(2026, 11, 20, 9, 15, 0, 0, time.UTC)
	apply := func(actor, via string, f func(p *hushv1.Preferences)) {
		t.Helper()
		if _, err := svc.Apply(context.Background(), consent.Change{Customer: "c-7", Actor: actor, Via: via,
			Mutate: func(p *hushv1.Preferences) error { f(p); return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	apply("agent-7", consent.ViaAPI, func(p *hushv1.Preferences) {
		consent.RecordGrant(p, &hushv1.ConsentGrant{Category: "newsletter", Channel: "email", GivenAt: timestamppb.New(given),
			Method: "verbal", WordingVersion: "nl-2026-10", Source: "call-881"})
	})
	stop := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	apply(consent.ActorCustomer, consent.ViaStopKeyword, func(p *hushv1.Preferences) {
		consent.AddRevocation(p, &hushv1.Revocation{Channel: "sms", At: timestamppb.New(stop), Via: consent.ViaStopKeyword,
			Language: "en", HonourBy: timestamppb.New(stop.AddDate(0, 0, 14))})
	})

	get := c.run("prefs", "get", "c-7")
	for _, want := range []string{
		"newsletter on email, given 2026-11-20T09:15:00Z by verbal (wording nl-2026-10, source call-881)",
		"sms from the whole company at 2026-11-23T10:00:00Z via stop_keyword (en), honour by 2026-12-07T10:00:00Z",
	} {
		if !strings.Contains(get, want) {
			t.Errorf("prefs get does not say %q:\n%s", want, get)
		}
	}
	hist := c.run("prefs", "history", "c-7")
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "agent-7") || !strings.Contains(lines[1], "api") ||
		!strings.Contains(lines[1], "given 2026-11-20T09:15:00Z by verbal (wording nl-2026-10, source call-881)") ||
		!strings.Contains(lines[2], "customer") || !strings.Contains(lines[2], "stop_keyword") || !strings.Contains(lines[2], "honour by 2026-12-07") {
		t.Errorf("prefs history does not show who gave consent, when and how:\n%s", hist)
	}

	// explain says why a STOP decided, and what is on record.
	c.decideOne(&hushv1.ContactIntent{Id: "sms-after-stop", CustomerId: "c-7", Channel: "sms", Category: "marketing", Topic: "sale",
		Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.New(c.clock())})
	out := c.run("explain", "sms-after-stop", "--customer", "c-7")
	for _, want := range []string{"stop_keyword", "customer revoked sms contacts from the whole company", "consent on record now",
		"revoked: sms from the whole company at 2026-11-23T10:00:00Z via stop_keyword (en)", "consent given: newsletter on email"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain does not say %q:\n%s", want, out)
		}
	}
}

// decideOne runs a gatekeeper on the test policy until it has decided it.
func (c *cli) decideOne(it *hushv1.ContactIntent) {
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
	gk := gatekeeper.New(js, store.New(rdb, c.redis.Prefix), pol, gatekeeper.Options{Workers: 1, Now: c.clock, Subjects: c.subjects()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	defer func() { cancel(); <-done }()
	msg, err := bus.NewMsg(c.subjects().Intent(it.GetSender().GetService(), it.GetChannel()), it.GetId(), it)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
		c.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d, err := c.store.Decision(context.Background(), it.GetCustomerId(), it.GetId())
		if err != nil {
			c.t.Fatal(err)
		}
		if d != nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not decided", it.GetId())
		}
	}
}
