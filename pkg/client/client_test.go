package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/pkg/client"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func TestPublishFillsIDsAndDefaults(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, js := n.Connect(t)
	testenv.EnsureStreams(t, js, bus.NewSubjects(""))
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c, err := client.New(nc, client.Options{Service: "billing", Now: func() time.Time { return now }, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	it := &hushv1.ContactIntent{CustomerId: "c-1", Channel: "push", Category: "transactional"}
	id, err := c.Publish(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 32 || it.GetId() != id || !it.GetCreatedAt().AsTime().Equal(now) || it.GetSender().GetService() != "billing" {
		t.Fatalf("id %q, intent %v", id, it)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(context.Background(), "HUSH_INTENTS")
	raw, err := st.GetLastMsgForSubject(context.Background(), "hush.intent.billing.push")
	if err != nil {
		t.Fatal(err)
	}
	got, err := bus.DecodeIntent(raw.Data, raw.Header)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetId() != id || raw.Header.Get(nats.MsgIdHdr) != id || !bus.IsJSON(raw.Header) {
		t.Fatalf("stored %v with headers %v", got, raw.Header)
	}
}

func TestInvalidIntentsAreNotSent(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, js := n.Connect(t)
	testenv.EnsureStreams(t, js, bus.NewSubjects(""))
	c, err := client.New(nc, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name string
		it   *hushv1.ContactIntent
		want string
	}{
		{"no customer", &hushv1.ContactIntent{Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "s"}}, "customer_id"},
		{"no sender", &hushv1.ContactIntent{CustomerId: "c", Channel: "email", Category: "marketing"}, "sender.service"},
		{"unknown category", &hushv1.ContactIntent{CustomerId: "c", Channel: "email", Category: "gossip", Sender: &hushv1.Sender{Service: "s"}}, "category"},
		{"agent without agent id", &hushv1.ContactIntent{CustomerId: "c", Channel: "sms", Category: "service", Initiator: "agent", Sender: &hushv1.Sender{Service: "s"}}, "sender.agent_id"},
		{"already expired", &hushv1.ContactIntent{CustomerId: "c", Channel: "sms", Category: "service", Sender: &hushv1.Sender{Service: "s"}, NotAfter: timestampOf(past)}, "not_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Publish(context.Background(), tt.it)
			if !errors.Is(err, client.ErrInvalid) || !contains(err.Error(), tt.want) {
				t.Fatalf("err %v; want ErrInvalid naming %s", err, tt.want)
			}
		})
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(context.Background(), "HUSH_INTENTS")
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 0 {
		t.Fatalf("%d invalid intents reached the stream", info.State.Msgs)
	}
}

func TestFlushReportsIntentsNotStored(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, _ := n.Connect(t) // no streams: nothing is stored
	c, err := client.New(nc, client.Options{Service: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := c.Publish(context.Background(), &hushv1.ContactIntent{Id: id, CustomerId: "c", Channel: "email", Category: "marketing"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.Close(ctx)
	var pe *client.PublishError
	if !errors.Is(err, client.ErrNotStored) || !errors.As(err, &pe) || (pe.IntentID != "a" && pe.IntentID != "b") {
		t.Fatalf("Close: %v; want ErrNotStored for a and b", err)
	}
	if _, err := c.Publish(context.Background(), &hushv1.ContactIntent{CustomerId: "c", Channel: "email", Category: "marketing"}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

func TestManyAsyncPublishesAreAllStored(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, js := n.Connect(t)
	testenv.EnsureStreams(t, js, bus.NewSubjects(""))
	c, err := client.New(nc, client.Options{Service: "bulk", MaxPending: 256})
	if err != nil {
		t.Fatal(err)
	}
	const total = 5000
	start := time.Now()
	for range total {
		if _, err := c.Publish(context.Background(), &hushv1.ContactIntent{CustomerId: "c", Channel: "email", Category: "marketing"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d intents stored in %s", total, time.Since(start))
	st, _ := js.Stream(context.Background(), "HUSH_INTENTS")
	info, _ := st.Info(context.Background())
	if info.State.Msgs != total {
		t.Fatalf("stream holds %d, want %d", info.State.Msgs, total)
	}
}

// TestTheProducerIsTheSender: an intent is published under the producer's
// name, which its credential must allow; one naming another sender never
// leaves the process.
func TestTheProducerIsTheSender(t *testing.T) {
	n := testenv.StartNATS(t)
	nc, js := n.Connect(t)
	testenv.EnsureStreams(t, js, bus.NewSubjects(""))
	c, err := client.New(nc, client.Options{Service: "campaigns"})
	if err != nil {
		t.Fatal(err)
	}
	forged := &hushv1.ContactIntent{CustomerId: "c-1", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "alerts"}}
	if _, err := c.Publish(context.Background(), forged); !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), "sender.service") {
		t.Errorf("publish as another producer: %v, want ErrInvalid naming sender.service", err)
	}
	anon, err := client.New(nc, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	odd := &hushv1.ContactIntent{CustomerId: "c-1", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "billing.eu"}}
	if _, err := anon.Publish(context.Background(), odd); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("a sender that is no subject token: %v, want ErrInvalid", err)
	}
	ok := &hushv1.ContactIntent{CustomerId: "c-1", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "billing"}}
	if _, err := anon.Publish(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if err := anon.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(context.Background(), "HUSH_INTENTS")
	if _, err := st.GetLastMsgForSubject(context.Background(), "hush.intent.billing.email"); err != nil {
		t.Errorf("without Options.Service an intent goes out under its own sender: %v", err)
	}
}
