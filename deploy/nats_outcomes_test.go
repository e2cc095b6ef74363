package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// withRival is deploy/nats/accounts.conf with a second producer, rival,
// added the way the file says to add one: a copy of the demo producer's
// block with its name replaced, and a user of its own. The demo block is
// the one under test; the copy follows it, so a change to the demo block
// (a widened permission) is a change to the rival's too.
func withRival(t *testing.T) string {
	t.Helper()
	conf, err := os.ReadFile("nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	start := strings.Index(text, "PRODUCER_DEMO_PERMISSIONS: {")
	end := strings.Index(text[start:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatal("accounts.conf has no PRODUCER_DEMO_PERMISSIONS block")
	}
	block := text[start : start+end+3]
	rival := strings.ReplaceAll(strings.ReplaceAll(block, "PRODUCER_DEMO_", "PRODUCER_RIVAL_"), "demo", "rival")
	userLine := "{ user: producer,"
	at := strings.Index(text, userLine)
	if at < 0 {
		t.Fatal("accounts.conf has no producer user")
	}
	text = text[:start+end+3] + "\n" + rival + text[start+end+3:at] +
		"{ user: rival, password: $HUSH_NATS_RIVAL_PASSWORD, permissions: $PRODUCER_RIVAL_PERMISSIONS }\n      " + text[at:]
	dir := t.TempDir()
	main, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"nats.conf": string(main), "accounts.conf": text} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "nats.conf")
}

// startNATSWithRival is startNATS with the rival producer.
func startNATSWithRival(t *testing.T) string {
	t.Helper()
	for user, pw := range natsPasswords {
		t.Setenv(passwordVar(user), pw)
	}
	natsPasswords["rival"] = "rival-test-77e1"
	inboxes["producer"], inboxes["rival"] = "_HUSH_INBOX.demo", "_HUSH_INBOX.rival"
	t.Cleanup(func() { delete(natsPasswords, "rival"); delete(inboxes, "producer"); delete(inboxes, "rival") })
	t.Setenv(passwordVar("rival"), natsPasswords["rival"])
	ns, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: t.TempDir(), ConfigFile: withRival(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestNATSPermissionsLetEachProducerReadOnlyItsOwnOutcomes runs the real
// gatekeeper behind the shipped permissions with two producers, demo and
// rival. Each reads the outcomes of its own intents, from the stream and
// live, and asks the check service under its own name; rival can neither
// read demo's outcomes (subscription, a consumer filtered to them, a
// consumer named demo's, an unfiltered one, a pull from demo's consumer,
// a direct get, demo's private inbox) nor ask a check as demo.
func TestNATSPermissionsLetEachProducerReadOnlyItsOwnOutcomes(t *testing.T) {
	url := startNATSWithRival(t)
	subjects := bus.NewSubjects("")
	ctx := context.Background()
	g := startShippedGatekeeper(t, url, subjects, "outcomes-1", false)
	checks, err := g.gk.StartCheck(g.ctx, g.nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checks.Stop() })

	demo, rival := connectAs(t, url, "producer"), connectAs(t, url, "rival")
	// rival listens on every inbox it may read, to see whether anything of
	// demo's arrives there.
	sniff, err := rival.nc.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		u        *natsUser
		producer string
	}{{demo, "demo"}, {rival, "rival"}} {
		data, _ := proto.Marshal(&hushv1.ContactIntent{Id: p.producer + "-1", CustomerId: "c-" + p.producer, Channel: "email",
			Category: "marketing", Sender: &hushv1.Sender{Service: p.producer}})
		if _, err := p.u.js.Publish(ctx, subjects.Intent(p.producer, "email"), data); err != nil {
			t.Fatalf("%s publishes an intent: %v", p.producer, err)
		}
	}

	// Each reads its own outcome with the one consumer it may create.
	own := func(u *natsUser, producer string) jetstream.Consumer {
		t.Helper()
		cons, err := u.js.CreateOrUpdateConsumer(ctx, subjects.Stream(bus.StreamOutcomes), jetstream.ConsumerConfig{
			Durable: bus.OutcomeConsumer(producer), FilterSubject: subjects.OutcomesOf(producer), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("%s creates its outcome consumer: %v", producer, err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var rec hushv1.SuppressionRecord
			err := proto.Unmarshal(m.Data(), &rec)
			d := rec.GetDecision()
			if err != nil || d.GetIntentId() != producer+"-1" || d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED ||
				m.Subject() != subjects.Outcome(producer, "email", "c-"+producer) {
				t.Errorf("%s read %s %v (%v)", producer, m.Subject(), d, err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Errorf("%s acks its outcome: %v", producer, err)
			}
		}
		if n != 1 || batch.Error() != nil {
			t.Fatalf("%s fetched %d outcomes: %v", producer, n, batch.Error())
		}
		return cons
	}
	own(demo, "demo")
	own(rival, "rival")

	// rival cannot create a consumer on demo's outcomes, under any name,
	// nor one without a filter, nor one with several, nor one on a
	// customer's history (every producer's outcomes for the customer).
	for _, cfg := range []jetstream.ConsumerConfig{
		{Durable: "rival", FilterSubject: subjects.OutcomesOf("demo")},
		{Durable: "rival", FilterSubject: subjects.OutcomesFor("c-demo")},
		{Durable: "rival", FilterSubject: subjects.OutcomesFor("c-rival")},
		{Durable: "rival", FilterSubject: subjects.All("outcome")},
		{Durable: "demo", FilterSubject: subjects.OutcomesOf("rival")},
		{Durable: "rival"},
		{Durable: "rival", FilterSubjects: []string{subjects.OutcomesOf("rival"), subjects.OutcomesOf("demo")}},
	} {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := rival.js.CreateOrUpdateConsumer(cctx, subjects.Stream(bus.StreamOutcomes), cfg)
		cancel()
		if err == nil {
			t.Errorf("rival created a consumer %q filtered to %q %q", cfg.Durable, cfg.FilterSubject, cfg.FilterSubjects)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := rival.js.Consumer(cctx, subjects.Stream(bus.StreamOutcomes), "demo"); err == nil {
		t.Error("rival read demo's consumer")
	}
	// Nor subscribe to them, nor pull from demo's consumer, nor read the
	// stream directly, nor read demo's private inbox.
	stream := subjects.Stream(bus.StreamOutcomes)
	for _, subj := range []string{subjects.OutcomesOf("demo"), subjects.All("outcome"), subjects.OutcomesFor("c-demo"), "_HUSH_INBOX.demo.>"} {
		if _, err := rival.nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		rival.nc.Flush()
		if !rival.violated(`"` + subj + `"`) {
			t.Errorf("rival subscribed to %s", subj)
		}
	}
	for _, subj := range []string{"$JS.API.CONSUMER.MSG.NEXT." + stream + ".demo", "$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream, subjects.Check("demo")} {
		rival.nc.PublishRequest(subj, rival.nc.NewRespInbox(), []byte(`{"batch":1}`))
		rival.nc.Flush()
		if !rival.violated(`"` + subj + `"`) {
			t.Errorf("rival published to %s", subj)
		}
	}
	if m, err := sniff.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("rival read %s on _INBOX.>: %q", m.Subject, m.Data)
	}

	// Each asks the check service under its own name, in JSON.
	req := nats.NewMsg(subjects.Check("demo"))
	req.Header.Set(bus.HeaderContentType, bus.ContentTypeJSON)
	req.Data = []byte(`{"intents":[{"id":"demo-1","customerId":"c-demo","channel":"email","category":"marketing","sender":{"service":"demo"}},` +
		`{"id":"demo-2","customerId":"c-demo","channel":"email","category":"marketing","sender":{"service":"rival"}}]}`)
	resp, err := demo.nc.RequestMsg(req, 30*time.Second)
	if err != nil {
		t.Fatalf("demo asks a check: %v", err)
	}
	var out hushv1.CheckResponse
	if err := protojson.Unmarshal(resp.Data, &out); err != nil || len(out.GetAnswers()) != 2 {
		t.Fatalf("check answered %q (%v)", resp.Data, err)
	}
	if a := out.GetAnswers()[0]; a.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Errorf("demo-1, already decided: %v", a)
	}
	if a := out.GetAnswers()[1]; a.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || a.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_SENDER_UNVERIFIED {
		t.Errorf("an intent naming rival as sender, checked by demo: %v", a)
	}
}
