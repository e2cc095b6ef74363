package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/pkg/client"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// hush starts what a producer talks to: a NATS server with Hush's streams
// (in production, Hush creates them at start-up).
func hush() (*nats.Conn, func()) {
	dir, err := os.MkdirTemp("", "hush-example-")
	if err != nil {
		log.Fatal(err)
	}
	ns, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if err := bus.NewSubjects("").EnsureStreams(context.Background(), js, bus.DefaultStreamOptions()); err != nil {
		log.Fatal(err)
	}
	return nc, func() { nc.Close(); stop(ns); os.RemoveAll(dir) }
}

func stop(ns *server.Server) { ns.Shutdown(); ns.WaitForShutdown() }

// stored prints the messages a stream holds: subject, Nats-Msg-Id, and the
// headers asked for.
func stored(nc *nats.Conn, stream string, headers ...string) {
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	batch, _ := c.FetchNoWait(100)
	for m := range batch.Messages() {
		fmt.Println("stored", m.Subject(), m.Headers().Get(nats.MsgIdHdr))
		for _, h := range headers {
			fmt.Printf("  %s: %s\n", h, bus.Header(m.Headers(), h))
		}
	}
}

// A producer publishes intents and lets Hush decide; invalid intents fail
// at the source.
func Example() {
	nc, done := hush()
	defer done()
	ctx := context.Background()

	c, err := client.New(nc, client.Options{Service: "campaigns"})
	if err != nil {
		log.Fatal(err)
	}
	id, err := c.Publish(ctx, &hushv1.ContactIntent{
		Id:         "welcome-c-42", // the idempotency key; generated when empty
		CustomerId: "c-42",
		Channel:    "email",
		Category:   "marketing",
		Topic:      "welcome",
	})
	fmt.Println("published", id, err)

	_, err = c.Publish(ctx, &hushv1.ContactIntent{CustomerId: "c-42", Channel: "fax", Category: "marketing"})
	fmt.Println(errors.Is(err, client.ErrInvalid), err)

	if err := c.Close(ctx); err != nil { // waits until JetStream has stored everything
		log.Fatal(err)
	}
	stored(nc, "HUSH_INTENTS")
	// Output:
	// published welcome-c-42 <nil>
	// true invalid intent: channel: unknown channel "fax" (want one of email, sms, push, voice, whatsapp, in_app)
	// stored hush.intent.campaigns.email welcome-c-42
}

// The caller's trace context travels in the message headers (W3C
// traceparent, lower case as other languages expect), so producer,
// gatekeeper and dispatch form one trace.
func ExampleClient_Publish_traceContext() {
	nc, done := hush()
	defer done()

	c, err := client.New(nc, client.Options{Service: "support-desk"})
	if err != nil {
		log.Fatal(err)
	}
	// A span context as the producer's own tracing would have it.
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	_, err = c.Publish(ctx, &hushv1.ContactIntent{
		Id: "reply-1", CustomerId: "c-7", Channel: "sms", Category: "service",
		Initiator: "agent", Sender: &hushv1.Sender{AgentId: "agent-12"},
		Purpose: "follow-up on ticket 991", InReplyTo: "ticket-991",
		NotAfter: nil, // optional deadline
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	stored(nc, "HUSH_INTENTS", "traceparent", "Content-Type")
	// Output:
	// stored hush.intent.support-desk.sms reply-1
	//   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	//   Content-Type: application/protobuf
}

// A channel's inbound service, which hears from a customer, records it with
// its own NATS credential (producers' credentials cannot): a reply window
// opens for the thread, for replies on the channel's family (here the
// phone: sms, voice, whatsapp).
func ExampleClient_Inbound() {
	nc, done := hush()
	defer done()
	ctx := context.Background()

	c, err := client.New(nc, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	err = c.Inbound(ctx, &hushv1.InboundContact{
		CustomerId: "c-7", Channel: "sms", ThreadId: "ticket-991",
		ReceivedAt: timestamppb.New(time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)), // default: now
	})
	fmt.Println(err)
	err = c.Inbound(ctx, &hushv1.InboundContact{CustomerId: "c-7", Channel: "sms"})
	fmt.Println(err)
	stored(nc, "HUSH_INBOUND")
	// Output:
	// <nil>
	// invalid intent: thread_id: required
	// stored hush.inbound.sms inbound:c-7:ticket-991:1795339800000
}
