package main

import (
	"context"
	"os"
	"path/filepath"
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

func TestPolicyPacksListsPacksAndTheirSections(t *testing.T) {
	var out strings.Builder
	if err := execute(context.Background(), []string{"policy", "packs"}, func(string) string { return "" }, &out, &out, time.Now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"us-reg-f 2026.11.1", "12 CFR 1006.14(b)(2)(i)(A)", "at most 7 per subject per 7 calendar days",
		"fr-demarchage", "Mon-Fri 10:00-13:00, 14:00-20:00; closed Sat, Sun, FR public holidays", "us-tcpa", "us-state-mini-tcpa",
		"unconfirmed:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("hushctl policy packs does not say %q:\n%s", want, out.String())
		}
	}
}

const tcpaPolicy = `
version: packs-cli
categories:
  marketing: { class: marketing }
packs:
  - { name: us-reg-f, mode: shadow, categories: [marketing] }
  - { name: us-tcpa, categories: [marketing] }
`

// TestExplainNamesThePackAndSection: a decision a pack made is explained
// with the pack, its version and the section of the law; the policy's
// composition is listed by policy packs --policy.
func TestExplainNamesThePackAndSection(t *testing.T) {
	c := newCLI(t)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(tcpaPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env["HUSH_POLICY"] = file
	if out := c.run("policy", "packs"); !strings.Contains(out, "mode shadow; categories marketing") || !strings.Contains(out, "mode enforce") {
		t.Errorf("policy packs --policy:\n%s", out)
	}
	pol, err := policy.LoadFile(file)
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

	// 10:00 UTC is 02:00 in Los Angeles.
	c.run("prefs", "set", "west", "--time-zone", "America/Los_Angeles", "--region", "US-CA")
	it := &hushv1.ContactIntent{Id: "v-1", CustomerId: "west", Channel: "voice", Category: "marketing",
		Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.New(c.clock())}
	msg, err := bus.NewMsg(c.subjects().Intent("campaigns", "voice"), it.GetId(), it)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if d, err := c.store.Decision(context.Background(), "west", "v-1"); err != nil {
			t.Fatal(err)
		} else if d != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("v-1 not decided")
		}
	}
	out := c.run("explain", "v-1", "--customer", "west")
	for _, want := range []string{"PACK, SECTION", "us-tcpa 2026.11.1, 47 CFR 64.1200(c)(1)", "us-reg-f 2026.11.1, 12 CFR 1006.6(b)(1)(i)", "outside_contact_hours",
		"us-reg-f.call-frequency", "7 calendar days"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain does not say %q:\n%s", want, out)
		}
	}
	t.Logf("hushctl explain v-1:\n%s", out)
}
