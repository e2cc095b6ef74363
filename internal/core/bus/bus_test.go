package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func TestSubjects(t *testing.T) {
	s := bus.NewSubjects("")
	tests := []struct{ got, want string }{
		{s.Intent("campaigns", "email"), "hush.intent.campaigns.email"},
		{s.Intent("a.b>", "email"), "hush.intent.a%2Eb%3E.email"},
		{s.Dispatch("sms"), "hush.dispatch.sms"},
		{s.Suppressed("push"), "hush.suppressed.push"},
		{s.Inbound("voice"), "hush.inbound.voice"},
		{s.DeadLetter(), "hush.deadletter"},
		{s.PrefsChanged(), "hush.prefs.changed"},
		{s.All("intent"), "hush.intent.>"},
		{s.Stream(bus.StreamIntents), "HUSH_INTENTS"},
		{bus.NewSubjects("acme-hush").Stream(bus.StreamDispatch), "ACME_HUSH_DISPATCH"},
		{s.Channel("hush.intent.email"), "email"},
		{s.Channel("hush.intent.email.extra"), ""},
		{s.Channel("other.intent.email"), ""},
		{s.Channel("hush.deadletter"), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestDecodeIntentByContentType(t *testing.T) {
	want := &hushv1.ContactIntent{Id: "i-1", CustomerId: "c-1", Channel: "email", Payload: []byte("hi")}
	bin, _ := proto.Marshal(want)
	tests := []struct {
		name    string
		data    []byte
		hdr     nats.Header
		wantErr bool
	}{
		{"protobuf without header", bin, nil, false},
		{"protobuf declared", bin, nats.Header{"Content-Type": {"application/protobuf"}}, false},
		{"json camelCase", []byte(`{"id":"i-1","customerId":"c-1","channel":"email","payload":"aGk="}`),
			nats.Header{"Content-Type": {"application/json"}}, false},
		{"json snake_case, lowercase header, charset", []byte(`{"id":"i-1","customer_id":"c-1","channel":"email","payload":"aGk="}`),
			nats.Header{"content-type": {"application/json; charset=utf-8"}}, false},
		{"json unknown field", []byte(`{"id":"i-1","custmer":"c-1"}`), nats.Header{"Content-Type": {"application/json"}}, true},
		{"json given as protobuf", []byte(`{"id":"i-1"}`), nil, true},
		{"garbage", []byte{0xff, 0xff, 0xff}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bus.DecodeIntent(tt.data, tt.hdr)
			if tt.wantErr {
				if !errors.Is(err, bus.ErrDecode) {
					t.Fatalf("err %v, want ErrDecode", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestHeaderCarrierPreservesCaseAndReadsAnyCase(t *testing.T) {
	prop := propagation.TraceContext{}
	// A producer in another language sends a lowercase traceparent.
	in := nats.Header{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	ctx := prop.Extract(context.Background(), bus.HeaderCarrier(in))
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("trace id %q not extracted from a lowercase header", sc.TraceID())
	}
	// And Hush writes it the way the W3C spec names it, not canonicalised.
	out := nats.Header{}
	prop.Inject(ctx, bus.HeaderCarrier(out))
	if _, ok := out["traceparent"]; !ok {
		t.Fatalf("injected headers %v: want a lowercase traceparent", out)
	}
	if _, ok := out["Traceparent"]; ok {
		t.Fatal("traceparent was canonicalised")
	}
}

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	s := bus.NewSubjects("")
	ctx := context.Background()
	o := bus.DefaultStreamOptions()
	for range 2 {
		if err := s.EnsureStreams(ctx, js, o); err != nil {
			t.Fatal(err)
		}
	}
	// A changed setting is applied to the existing stream.
	o.LogRetention /= 2
	if err := s.EnsureStreams(ctx, js, o); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, s.Stream(bus.StreamSuppressed))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != o.LogRetention {
		t.Errorf("suppression log retention %v, want the updated %v", got, o.LogRetention)
	}
	for _, cfg := range s.StreamConfigs(o) {
		info, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatalf("stream %s: %v", cfg.Name, err)
		}
		c := info.CachedInfo().Config
		keptForever := cfg.Name == s.Stream(bus.StreamPrefs) // the consent history
		if c.Storage.String() != "File" || c.Duplicates == 0 || (c.MaxAge == 0) != keptForever {
			t.Errorf("%s: storage %v, duplicate window %v, max age %v", cfg.Name, c.Storage, c.Duplicates, c.MaxAge)
		}
		for _, subj := range c.Subjects { // Hush's own subjects, or the JetStream advisories it keeps
			if !strings.HasPrefix(subj, "hush.") && !strings.HasPrefix(subj, "$JS.EVENT.ADVISORY.") {
				t.Errorf("%s captures %q, outside Hush's subjects", cfg.Name, subj)
			}
		}
	}
}

func TestIntentSource(t *testing.T) {
	s := bus.NewSubjects("")
	for _, c := range []struct {
		subject, producer, channel string
		ok                         bool
	}{
		{"hush.intent.campaigns.email", "campaigns", "email", true},
		{"hush.intent.email", "", "email", true},
		{"hush.intent.a.b.email", "", "", false},
		{"hush.intent.", "", "", false},
		{"hush.intent.campaigns.", "", "", false},
		{"hush.released.email", "", "", false},
		{"other.intent.campaigns.email", "", "", false},
	} {
		p, ch, ok := s.IntentSource(c.subject)
		if p != c.producer || ch != c.channel || ok != c.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", c.subject, p, ch, ok, c.producer, c.channel, c.ok)
		}
	}
}
