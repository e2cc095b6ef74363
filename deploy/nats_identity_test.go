package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestNATSPermissionsKeepTheCustomersVoiceAndTheProducersNames runs the
// real gatekeeper (intents and inbound contacts) behind the shipped
// permissions. A producer cannot open a reply window for a customer who
// asked to be left alone, nor publish under another producer's name; the
// channel's inbound service can open a window on its own channel only.
func TestNATSPermissionsKeepTheCustomersVoiceAndTheProducersNames(t *testing.T) {
	url := startNATS(t)
	subjects := bus.NewSubjects("")
	ctx := context.Background()

	g := startShippedGatekeeper(t, url, subjects, "voice-1", true)
	gkUser := g.user
	if _, _, err := g.st.SetPreferences(ctx, "quiet-c", &hushv1.Preferences{CustomerId: "quiet-c", Mode: hushv1.Mode_MODE_DO_NOTHING}, nil); err != nil {
		t.Fatal(err)
	}

	// The producer claims the customer wrote in, with JetStream and with a
	// plain publish: NATS refuses both.
	producer := connectAs(t, url, "producer")
	forged, _ := proto.Marshal(&hushv1.InboundContact{CustomerId: "quiet-c", Channel: "email", ThreadId: "forged-thread"})
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := producer.js.Publish(pctx, "hush.inbound.email", forged)
	cancel()
	if err == nil {
		t.Error("producer published an inbound contact")
	}
	producer.nc.Publish("hush.inbound.sms", forged)
	producer.nc.Flush()
	for _, s := range []string{`"hush.inbound.email"`, `"hush.inbound.sms"`} {
		if !producer.violated(s) {
			t.Errorf("no permissions violation for %s", s)
		}
	}
	waitInboundSettled(t, gkUser.js, subjects)

	// Its marketing "reply" to the forged thread meets the customer's
	// do-nothing, as any unsolicited contact would.
	reply := func(id, thread string) []byte {
		data, _ := proto.Marshal(&hushv1.ContactIntent{Id: id, CustomerId: "quiet-c", Channel: "email", Category: "marketing",
			InReplyTo: thread, Sender: &hushv1.Sender{Service: "demo"}})
		return data
	}
	if _, err := producer.js.Publish(ctx, "hush.intent.demo.email", reply("forged-reply", "forged-thread")); err != nil {
		t.Fatalf("producer publishes an intent under its own name: %v", err)
	}

	// The email inbound service records the customer's real contact, on
	// its own channel only, and publishes nothing else.
	inbound := connectAs(t, url, "inbound-email")
	real, _ := proto.Marshal(&hushv1.InboundContact{CustomerId: "quiet-c", Channel: "email", ThreadId: "real-thread"})
	if _, err := inbound.js.Publish(ctx, "hush.inbound.email", real); err != nil {
		t.Fatalf("the email inbound service publishes an inbound contact: %v", err)
	}
	inbound.nc.Publish("hush.inbound.sms", real)
	inbound.nc.Publish("hush.intent.demo.email", reply("inbound-intent", ""))
	inbound.nc.Publish("hush.dispatch.email", reply("inbound-dispatch", ""))
	inbound.nc.Flush()
	for _, s := range []string{`"hush.inbound.sms"`, `"hush.intent.demo.email"`, `"hush.dispatch.email"`} {
		if !inbound.violated(s) {
			t.Errorf("inbound service: no permissions violation for %s", s)
		}
	}
	waitInboundSettled(t, gkUser.js, subjects)
	if _, err := producer.js.Publish(ctx, "hush.intent.demo.email", reply("real-reply", "real-thread")); err != nil {
		t.Fatal(err)
	}

	// Nor may the producer publish under another producer's name, or
	// under none.
	for _, s := range []string{"hush.intent.alerts.email", "hush.intent.email"} {
		producer.nc.Publish(s, reply("impostor", ""))
		producer.nc.Flush()
		if !producer.violated(`"` + s + `"`) {
			t.Errorf("no permissions violation for %s", s)
		}
	}

	for deadline := time.Now().Add(30 * time.Second); streamMsgs(t, gkUser.js, subjects.Stream(bus.StreamDispatch))+
		streamMsgs(t, gkUser.js, subjects.Stream(bus.StreamSuppressed)) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the gatekeeper did not decide both replies within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	outcome := map[string]string{}
	for _, kind := range []string{bus.StreamDispatch, bus.StreamSuppressed, bus.StreamDeadLetter} {
		c, err := gkUser.js.OrderedConsumer(ctx, subjects.Stream(kind), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		n := int(streamMsgs(t, gkUser.js, subjects.Stream(kind)))
		for range n {
			m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			id := m.Headers().Get(nats.MsgIdHdr)
			if kind == bus.StreamSuppressed {
				rec := new(hushv1.SuppressionRecord)
				if err := proto.Unmarshal(m.Data(), rec); err != nil {
					t.Fatal(err)
				}
				outcome[id] = policy.ShortCode(rec.GetDecision().GetReasons()[0].GetCode())
				continue
			}
			outcome[id] = kind
		}
	}
	want := map[string]string{"forged-reply": "do_nothing", "real-reply": bus.StreamDispatch}
	if len(outcome) != len(want) {
		t.Errorf("outcomes %v, want %v", outcome, want)
	}
	for id, w := range want {
		if outcome[id] != w {
			t.Errorf("%s: %q, want %q (all: %v)", id, outcome[id], w, outcome)
		}
	}
}

// waitInboundSettled waits until the gatekeeper has handled every inbound
// contact stored so far.
func waitInboundSettled(t *testing.T, js jetstream.JetStream, subjects bus.Subjects) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := js.Consumer(ctx, subjects.Stream(bus.StreamInbound), "gatekeeper-inbound")
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("inbound contacts not handled within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
