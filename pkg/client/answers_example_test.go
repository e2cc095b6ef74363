package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/pkg/client"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// gate runs a gatekeeper with its "may I contact?" service on nc, against a
// private redis-server, with a clock stopped at noon and a policy of one
// marketing contact per customer a day.
func gate(nc *nats.Conn) func() {
	dir, err := os.MkdirTemp("", "hush-example-redis-")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs, err := localsrv.StartRedis(ctx, localsrv.RedisOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	opts, _ := redis.ParseURL(rs.URL)
	rdb := redis.NewClient(opts)
	pol, err := policy.Parse("example.yaml", []byte(`version: example-1
categories:
  marketing: { class: marketing }
caps:
  - { id: daily, scope: customer, window: 24h, max: 1, classes: [marketing] }
`))
	if err != nil {
		log.Fatal(err)
	}
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	js, _ := jetstreamFor(nc)
	gk := gatekeeper.New(js, store.New(rdb, "example"), pol, gatekeeper.Options{Now: func() time.Time { return noon }})
	checks, err := gk.StartCheck(ctx, nc)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	return func() {
		checks.Stop()
		cancel()
		<-done
		rdb.Close()
		rs.Kill()
		os.RemoveAll(dir)
	}
}

// A producer asks "may I contact?" before a campaign, and reads the
// outcomes of what it published. The check counts nothing: asking twice
// gives the same answer, and only the published intent uses the
// customer's one marketing contact of the day.
func ExampleClient_Check() {
	nc, done := hush()
	defer done()
	stopGate := gate(nc)
	defer stopGate()
	ctx := context.Background()

	c, err := client.New(nc, client.Options{Service: "campaigns"})
	if err != nil {
		log.Fatal(err)
	}
	ask := func(id string) {
		answers, err := c.Check(ctx, &hushv1.ContactIntent{Id: id, CustomerId: "c-42", Channel: "email", Category: "marketing"})
		if err != nil {
			log.Fatal(err)
		}
		a := answers[0]
		fmt.Println("check", a.GetIntentId(), policy.ShortOutcome(a.GetOutcome()))
		for _, r := range a.GetReasons() {
			fmt.Printf("  %s: %s\n", policy.ShortCode(r.GetCode()), r.GetMessage())
		}
		if a.GetNextAllowedAt() != nil {
			fmt.Println("  next allowed", a.GetNextAllowedAt().AsTime().Format(time.RFC3339))
		}
	}
	ask("sale-1")
	ask("sale-1") // nothing was counted

	outcomes := make(chan *hushv1.Decision, 1)
	cc, err := c.Outcomes(ctx, func(d *hushv1.Decision) { outcomes <- d })
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Stop()
	if _, err := c.Publish(ctx, &hushv1.ContactIntent{Id: "sale-1", CustomerId: "c-42", Channel: "email", Category: "marketing"}); err != nil {
		log.Fatal(err)
	}
	d := <-outcomes
	fmt.Println("outcome", d.GetIntentId(), policy.ShortOutcome(d.GetOutcome()))

	ask("sale-2")
	// Output:
	// check sale-1 approved
	// check sale-1 approved
	// outcome sale-1 approved
	// check sale-2 suppressed
	//   frequency_cap: 1 of 1 contacts in the last 1 day; next allowed 2026-11-24T12:00Z
	//   next allowed 2026-11-24T12:00:00Z
}

func jetstreamFor(nc *nats.Conn) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
}
