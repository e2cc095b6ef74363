package pressure_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/pressure"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Records and customers of the busy history the benchmarks read: ten
// contacts a customer.
const (
	benchRecords   = 100_000
	benchCustomers = 10_000
)

// busyHistory fills a contact history as the gatekeeper writes it: one
// record per decided intent, customers interleaved, a third suppressed,
// one in five from an agent.
func busyHistory(b *testing.B) (jetstream.JetStream, bus.Subjects) {
	b.Helper()
	n := testenv.StartNATS(b)
	_, js := n.Connect(b)
	s := bus.NewSubjects("")
	testenv.EnsureStreams(b, js, s)
	now := time.Now()
	var futs []jetstream.PubAckFuture
	for i := range benchRecords {
		customer := fmt.Sprintf("c-%05d", i%benchCustomers)
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("i-%07d", i), CustomerId: customer, Channel: "email", Category: "marketing",
			Topic: "spring-sale", Sender: &hushv1.Sender{Service: fmt.Sprintf("svc-%d", i%7)}, CreatedAt: timestamppb.New(now)}
		d := &hushv1.Decision{IntentId: it.Id, CustomerId: customer, Channel: "email", Category: "marketing",
			Outcome: hushv1.Outcome_OUTCOME_APPROVED, DecidedAt: timestamppb.New(now.Add(time.Duration(i-benchRecords) * time.Second)), PolicyVersion: "bench-1"}
		if i%3 == 0 {
			d.Outcome, d.Reasons = hushv1.Outcome_OUTCOME_SUPPRESSED, []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Rule: "cap.customer-daily"}}
		}
		if i%5 == 0 {
			it.Sender.AgentId, it.Initiator = fmt.Sprintf("agent-%d", i%50), "agent"
		}
		m, err := bus.NewMsg(s.Outcome(it.Sender.Service, it.Channel, customer), it.Id, &hushv1.SuppressionRecord{Decision: d, Intent: it})
		if err != nil {
			b.Fatal(err)
		}
		m.Header.Set(bus.HeaderMessageType, bus.MessageTypeRecord)
		if it.Initiator == "agent" {
			m.Header.Set(bus.HeaderUnsolicited, "true")
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futs = append(futs, f)
		if len(futs) == 4000 {
			<-js.PublishAsyncComplete()
			futs = futs[:0]
		}
	}
	<-js.PublishAsyncComplete()
	return js, s
}

// BenchmarkHistory measures the two readers of a history of 100,000
// records: one customer's 30 days for the preference page (a consumer
// filtered on the customer's subject), and the over-servicing report over
// all of it.
func BenchmarkHistory(b *testing.B) {
	js, s := busyHistory(b)
	ctx := context.Background()
	b.Run("one-customer", func(b *testing.B) {
		i := 0
		for b.Loop() {
			got := 0
			if _, err := s.ReadHistory(ctx, js, fmt.Sprintf("c-%05d", i*7919%benchCustomers), time.Now().Add(-30*24*time.Hour), func(*hushv1.SuppressionRecord, bool) error {
				got++
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if got != benchRecords/benchCustomers {
				b.Fatalf("read %d records, want %d", got, benchRecords/benchCustomers)
			}
			i++
		}
	})
	b.Run("report", func(b *testing.B) {
		for b.Loop() {
			r, err := pressure.Read(ctx, js, s, time.Now().Add(-30*24*time.Hour), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if r.Total.Tried != benchRecords {
				b.Fatalf("report counts %d, want %d", r.Total.Tried, benchRecords)
			}
		}
		b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
