package bus_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func benchIntent() *hushv1.ContactIntent {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	return &hushv1.ContactIntent{
		Id: "bench-000000001234", CustomerId: "c-0000042", Channel: "email", Category: "marketing", Topic: "spring-sale",
		Sender:    &hushv1.Sender{Service: "campaigns"},
		CreatedAt: timestamppb.New(now), NotAfter: timestamppb.New(now.Add(time.Hour)),
		Destination: "someone@example.com", Payload: make([]byte, 256),
	}
}

// BenchmarkDecodeIntent measures what the gatekeeper does with every message
// body before the rules run, in both encodings producers may use.
func BenchmarkDecodeIntent(b *testing.B) {
	it := benchIntent()
	pb, err := proto.Marshal(it)
	if err != nil {
		b.Fatal(err)
	}
	js, err := bus.JSONOut.Marshal(it)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		h    nats.Header
	}{
		{"protobuf", pb, nats.Header{}},
		{"protobuf/content-type", pb, nats.Header{bus.HeaderContentType: {bus.ContentTypeProtobuf}}},
		{"json", js, nats.Header{bus.HeaderContentType: {bus.ContentTypeJSON}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, err := bus.DecodeIntent(c.data, c.h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewMsg measures encoding a suppression record for the log.
func BenchmarkNewMsg(b *testing.B) {
	rec := &hushv1.SuppressionRecord{
		Decision: &hushv1.Decision{IntentId: "bench-000000001234", CustomerId: "c-0000042", Channel: "email",
			Category: "marketing", Outcome: hushv1.Outcome_OUTCOME_SUPPRESSED, PolicyVersion: "2026-11-22.1",
			Reasons: []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Rule: "cap.customer-daily",
				Message: "5 of 5 contacts in the last 24h; next allowed 2026-11-23T09:00:00Z"}}},
		Intent: benchIntent(),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.NewMsg("hush.suppressed.email", "bench-000000001234", rec); err != nil {
			b.Fatal(err)
		}
	}
}
