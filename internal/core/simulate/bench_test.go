package simulate_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/simulate"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// benchIntents is the size of the recorded workload: 200,000 intents, one
// in ten stored as JSON, the rest as protobuf, with a 200-byte payload, from
// 20,000 customers over the period.
const benchIntents = 200_000

// fillIntents stores the workload in a real (in-process) JetStream intents
// stream.
func fillIntents(b *testing.B, js jetstream.JetStream, s bus.Subjects, n int) {
	b.Helper()
	ctx := context.Background()
	cats := []string{"marketing", "marketing", "support", "transactional"}
	payload := []byte(strings.Repeat("p", 200))
	var pending []jetstream.PubAckFuture
	for i := range n {
		cat := cats[i%len(cats)]
		producer := "campaigns"
		if cat == "transactional" {
			producer = "bank"
		}
		it := &hushv1.ContactIntent{Id: fmt.Sprintf("bench-%08d", i), CustomerId: fmt.Sprintf("c-%06d", (i*7919)%20_000),
			Channel: []string{"email", "sms", "push"}[i%3], Category: cat, Topic: "news",
			Sender: &hushv1.Sender{Service: producer}, CreatedAt: timestamppb.Now(), Payload: payload}
		var msg *nats.Msg
		if i%10 == 0 {
			data, err := bus.JSONOut.Marshal(it)
			if err != nil {
				b.Fatal(err)
			}
			msg = nats.NewMsg(s.Intent(producer, it.GetChannel()))
			msg.Data = data
			msg.Header.Set(bus.HeaderContentType, bus.ContentTypeJSON)
			msg.Header.Set(bus.HeaderMsgID, it.GetId())
		} else {
			var err error
			if msg, err = bus.NewMsg(s.Intent(producer, it.GetChannel()), it.GetId(), it); err != nil {
				b.Fatal(err)
			}
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			b.Fatal(err)
		}
		pending = append(pending, f)
		if len(pending) == 2048 || i == n-1 { // under the client's 4,000 outstanding
			for _, f := range pending {
				select {
				case <-f.Ok():
				case <-f.Err(): // a lost acknowledgement: publish again, the id keeps it once
					if _, err := js.PublishMsg(ctx, f.Msg()); err != nil {
						b.Fatalf("publish %s: %v", f.Msg().Header.Get(bus.HeaderMsgID), err)
					}
				}
			}
			pending = pending[:0]
		}
	}
}

// BenchmarkSimulateFromStream replays 200,000 recorded intents end to end:
// read from the JetStream intents stream with an ordered consumer, decoded,
// and decided by two policies (the one in force and a candidate) with
// private in-memory ledgers. It reports intents/s and the load average
// while it ran.
func BenchmarkSimulateFromStream(b *testing.B) {
	ns := testenv.StartNATS(b)
	_, js := ns.Connect(b)
	s := bus.NewSubjects("bench")
	testenv.EnsureStreams(b, js, s)
	fillIntents(b, js, s, benchIntents)
	if st, err := js.Stream(context.Background(), s.Stream(bus.StreamIntents)); err == nil {
		if info, err := st.Info(context.Background()); err == nil && info.State.Msgs > 0 {
			b.Logf("intents stream: %d messages, %d bytes, %d bytes per intent", info.State.Msgs, info.State.Bytes, info.State.Bytes/info.State.Msgs)
		}
	}
	base := loadPolicy(b, "testdata/baseline.yaml")
	cand := loadPolicy(b, "testdata/candidate.yaml")
	since := time.Now().Add(-time.Hour)
	var total time.Duration
	var n int
	cpu0 := cpuTime(b)
	for b.Loop() {
		rep, err := simulate.Run(context.Background(), js, simulate.Options{Subjects: s, Since: since,
			Baseline: simulate.PolicyUnder{Policy: base}, Candidate: simulate.PolicyUnder{Policy: cand}})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Intents != benchIntents {
			b.Fatalf("replayed %d intents, want %d", rep.Intents, benchIntents)
		}
		total += time.Duration(rep.Elapsed)
		n += rep.Intents
	}
	b.ReportMetric(float64(n)/total.Seconds(), "intents/s")
	// CPU time of the whole process (the in-process NATS server's
	// included) per intent: what the replay costs, whatever the load.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(n), "cpu-µs/intent")
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average %s", strings.TrimSpace(string(la)))
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
