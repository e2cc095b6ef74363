package gatekeeper_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// stopPolicy lets the SMS platform, and only it, send the one confirmation
// a STOP allows.
const stopPolicy = `
version: stop-1
categories:
  marketing:         { class: marketing }
  newsletter:        { class: marketing, requires_consent: true }
  stop_confirmation: { class: transactional }
consent:
  stop:
    keywords:
      fr: [arrêt, arret, stop]
    confirmation: { category: stop_confirmation, within: 5m }
producers:
  sms-platform: { categories: [stop_confirmation] }
`

func (h *harness) useStopPolicy() {
	h.t.Helper()
	p, err := policy.Parse("stop.yaml", []byte(stopPolicy))
	if err != nil {
		h.t.Fatal(err)
	}
	h.pol = p
}

// startInboundWith runs an inbound consumer with o (its logger, tracer).
func (h *harness) startInboundWith(o gatekeeper.Options) {
	h.t.Helper()
	nc, js, err := connect.NATS(h.nats.URL, connect.NATSOptions{Name: "test-inbound"})
	if err != nil {
		h.t.Fatal(err)
	}
	rdb := h.redisClient(10)
	o.Subjects = h.subjects
	gk := gatekeeper.New(js, store.New(rdb, h.prefix), h.pol, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.RunInbound(ctx) }()
	select {
	case <-gk.InboundReady():
	case err := <-done:
		h.t.Fatalf("inbound consumer stopped before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("inbound consumer not ready within 10s")
	}
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("inbound consumer: %v", err)
		}
		nc.Close()
		rdb.Close()
	})
}

var jsonHeader = nats.Header{bus.HeaderContentType: []string{bus.ContentTypeJSON}}

// waitInboundSettled waits until the inbound consumer has settled n messages.
func (h *harness) waitInboundSettled(n uint64) {
	h.t.Helper()
	c, err := h.js.Consumer(context.Background(), h.subjects.Stream(bus.StreamInbound), "gatekeeper-inbound")
	if err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.Info(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if info.AckFloor.Stream >= n && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("inbound ack floor %d, %d pending; want %d settled", info.AckFloor.Stream, info.NumAckPending, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// history reads the consent history.
func (h *harness) history() []*hushv1.PreferenceChange {
	h.t.Helper()
	var out []*hushv1.PreferenceChange
	for _, m := range h.read(bus.StreamPrefs) {
		pc := new(hushv1.PreferenceChange)
		if err := proto.Unmarshal(m.Data(), pc); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, pc)
	}
	return out
}

func decisionsOf(t *testing.T, dispatched, suppressed []jetstream.Msg) (ok map[string]bool, no map[string]*hushv1.Decision) {
	t.Helper()
	ok = map[string]bool{}
	for _, m := range dispatched {
		it := new(hushv1.ContactIntent)
		if err := proto.Unmarshal(m.Data(), it); err != nil {
			t.Fatal(err)
		}
		ok[it.GetId()] = true
	}
	return ok, reasonsByID(t, suppressed)
}

func TestStopKeywordSuppressesTheNextSMSAndOneConfirmationPasses(t *testing.T) {
	h := newHarness(t)
	h.useStopPolicy()
	h.startGatekeeper(gatekeeper.Options{})
	h.startInbound()

	// Decided before the STOP: the gatekeeper caches "no preferences".
	h.publish(intent("before", "stop-c", "sms", "marketing"))
	h.outcomes(1)

	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"stop-c","channel":"sms","threadId":"sms-1","body":"  Stop. "}`), jsonHeader)
	h.waitInboundSettled(1)
	hist := h.history()
	if len(hist) != 1 {
		t.Fatalf("consent history holds %d entries after a STOP, want 1", len(hist))
	}
	pc := hist[0]
	revs := pc.GetNew().GetRevocations()
	if pc.GetVia() != "stop_keyword" || pc.GetActor() != "customer" || len(revs) != 1 {
		t.Fatalf("history entry via %q actor %q revocations %v", pc.GetVia(), pc.GetActor(), revs)
	}
	r := revs[0]
	at := r.GetAt().AsTime()
	if r.GetChannel() != "sms" || r.GetService() != "" || r.GetLanguage() != "en" || r.GetVia() != "stop_keyword" ||
		!r.GetHonourBy().AsTime().Equal(policy.AddBusinessDays(at, 10)) || time.Since(at) > time.Minute {
		t.Errorf("revocation %v; want sms, whole company, en, honour by 10 business days after %v", r, at)
	}

	confirm := func(id string) *hushv1.ContactIntent {
		it := intent(id, "stop-c", "sms", "stop_confirmation")
		it.Sender.Service = "sms-platform"
		return it
	}
	h.publish(intent("after", "stop-c", "sms", "marketing"))
	h.publish(confirm("confirm-1"))
	h.publish(confirm("confirm-2"))
	h.publish(intent("by-email", "stop-c", "email", "marketing"))
	forged := intent("forged-confirm", "stop-c", "sms", "stop_confirmation") // from campaigns, not granted it
	h.publish(forged)
	dispatched, suppressed, _ := h.outcomes(6)
	ok, no := decisionsOf(t, dispatched, suppressed)
	code := func(id string) hushv1.ReasonCode { return no[id].GetReasons()[0].GetCode() }
	if !ok["before"] || !ok["by-email"] {
		t.Errorf("dispatched %v; want before (decided before the STOP) and by-email (another channel)", ok)
	}
	if code("after") != hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD {
		t.Errorf("the next marketing SMS: %v, want suppressed by stop_keyword", no["after"])
	}
	if ok["confirm-1"] == ok["confirm-2"] {
		t.Fatalf("confirmations dispatched: %v and %v; want exactly one", ok["confirm-1"], ok["confirm-2"])
	}
	other := "confirm-2"
	if ok["confirm-2"] {
		other = "confirm-1"
	}
	if rs := no[other].GetReasons(); len(rs) == 0 || rs[0].GetRule() != policy.RuleStopConfirmation || rs[0].GetCode() != hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD {
		t.Errorf("the second confirmation: %v, want stop_keyword.confirmation", rs)
	}
	if code("forged-confirm") != hushv1.ReasonCode_REASON_CODE_PRODUCER_NOT_ALLOWED {
		t.Errorf("a confirmation from a producer not granted it: %v", no["forged-confirm"])
	}

	// The STOP again (a redelivery, or the customer insisting) changes
	// nothing: no new version, no new history entry.
	_, v, err := h.store.Preferences(context.Background(), "stop-c")
	if err != nil {
		t.Fatal(err)
	}
	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"stop-c","channel":"sms","threadId":"sms-1","body":"STOP"}`), jsonHeader)
	h.waitInboundSettled(2)
	if _, v2, _ := h.store.Preferences(context.Background(), "stop-c"); v2 != v || len(h.history()) != 1 {
		t.Errorf("a repeated STOP moved the version %d -> %d, history %d entries", v, v2, len(h.history()))
	}
}

func TestStopKeywordIsScopedToTheServiceAndLanguage(t *testing.T) {
	h := newHarness(t)
	h.useStopPolicy()
	h.startGatekeeper(gatekeeper.Options{})
	h.startInbound()
	// "Arrêt" to the billing short code; then a plain message that is no keyword.
	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"fr-c","channel":"sms","threadId":"t-1","service":"billing","body":"ARRÊT!"}`), jsonHeader)
	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"fr-c","channel":"sms","threadId":"t-2","body":"stop sending me offers"}`), jsonHeader)
	h.waitInboundSettled(2)
	hist := h.history()
	if len(hist) != 1 || hist[0].GetNew().GetRevocations()[0].GetLanguage() != "fr" || hist[0].GetNew().GetRevocations()[0].GetService() != "billing" {
		t.Fatalf("history %v; want one revocation for billing, in French", hist)
	}
	billing := intent("billing-sms", "fr-c", "sms", "marketing")
	billing.Sender.Service = "billing"
	h.publish(billing)
	h.publish(intent("campaigns-sms", "fr-c", "sms", "marketing"))
	dispatched, suppressed, _ := h.outcomes(2)
	ok, no := decisionsOf(t, dispatched, suppressed)
	if !ok["campaigns-sms"] || no["billing-sms"].GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD {
		t.Errorf("dispatched %v suppressed %v; want billing's SMS stopped, campaigns' sent", ok, no)
	}
}

// TestStopBodyIsNeverLoggedTracedOrDeadLettered reads everything the inbound
// consumer says at debug level, every span it records and every dead
// letter, for the bodies of a STOP, of a message that is no keyword and of
// a malformed contact.
func TestStopBodyIsNeverLoggedTracedOrDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.useStopPolicy()
	var logs testenv.Buffer
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	h.startInboundWith(gatekeeper.Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TracerProvider: tp})
	h.startGatekeeper(gatekeeper.Options{})

	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"log-c","channel":"sms","threadId":"t-1","body":"Opt-Out!!"}`), jsonHeader)
	h.publishRaw("hush.inbound.sms", []byte(`{"customerId":"log-c","channel":"sms","threadId":"t-2","body":"zebra quartz 4111"}`), jsonHeader)
	bad, _ := proto.Marshal(&hushv1.InboundContact{CustomerId: "log-c", Channel: "sms", Body: "walrus secret 7781"}) // no thread: invalid
	h.publishRaw("hush.inbound.sms", bad, nil)
	h.waitInboundSettled(3)
	if len(h.history()) != 1 {
		t.Fatalf("history %v; want the STOP recorded", h.history())
	}
	dead := h.read(bus.StreamDeadLetter)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want the malformed contact", len(dead))
	}
	var seen strings.Builder
	seen.WriteString(logs.String())
	seen.Write(deadLetter(t, dead[0]).GetData())
	seen.Write(dead[0].Data())
	if len(spans.GetSpans()) == 0 {
		t.Fatal("no spans recorded")
	}
	for _, s := range spans.GetSpans() {
		seen.WriteString(s.Name)
		for _, a := range s.Attributes {
			seen.WriteString(" " + string(a.Key) + "=" + a.Value.String())
		}
		for _, e := range s.Events {
			seen.WriteString(" " + e.Name)
			for _, a := range e.Attributes {
				seen.WriteString(" " + a.Value.String())
			}
		}
		seen.WriteString(" " + s.Status.Description)
	}
	all := strings.ToLower(seen.String())
	if !strings.Contains(all, "stop keyword recorded") || !strings.Contains(all, "log-c") {
		t.Fatalf("the logs do not show the STOP being recorded; the test reads the wrong place:\n%s", all)
	}
	for _, body := range []string{"opt-out", "optout", "opt out", "zebra", "quartz", "4111", "walrus", "7781"} {
		if strings.Contains(all, body) {
			t.Errorf("%q leaked into logs, spans or dead letters:\n%s", body, all)
		}
	}
}
