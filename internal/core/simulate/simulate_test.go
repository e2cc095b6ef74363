package simulate_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/simulate"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func loadPolicy(t testing.TB, path string) *policy.Policy {
	t.Helper()
	p, err := policy.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// marketing is a marketing email intent of a campaign.
func marketing(id, customer string) *hushv1.ContactIntent {
	return &hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: "email", Category: "marketing", Topic: "news",
		Sender: &hushv1.Sender{Service: "campaigns"}, CreatedAt: timestamppb.Now()}
}

func publish(t testing.TB, js jetstream.JetStream, s bus.Subjects, producer string, it *hushv1.ContactIntent) {
	t.Helper()
	msg, err := bus.NewMsg(s.Intent(producer, it.GetChannel()), it.GetId(), it)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// waitDecided waits until the gatekeeper has acknowledged every intent
// stored so far: its consumer's ack floor reaches the stream's last message.
func waitDecided(t *testing.T, js jetstream.JetStream, s bus.Subjects) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, s.Stream(bus.StreamIntents))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := js.Consumer(ctx, s.Stream(bus.StreamIntents), "gatekeeper")
		if err != nil {
			t.Fatal(err)
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.AckFloor.Stream == info.State.LastSeq && ci.NumAckPending == 0 && ci.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatekeeper acknowledged up to %d of %d", ci.AckFloor.Stream, info.State.LastSeq)
		}
	}
}

// TestLoweringAWeeklyCapTurnsExactlyTheKnownIntents records a workload
// through a real gatekeeper (NATS and Redis) under a policy with a weekly
// cap of 5 marketing contacts, then simulates a candidate that lowers it to
// 3: exactly the 4th and 5th marketing intent of every customer who got 4 or
// more turn approved→suppressed, nothing turns the other way, and the
// baseline's replay agrees with every recorded decision, including those
// made before and after a customer's opt-out (preferences of their time,
// from the consent history, not today's).
func TestLoweringAWeeklyCapTurnsExactlyTheKnownIntents(t *testing.T) {
	ns := testenv.StartNATS(t)
	r := testenv.StartRedis(t)
	_, js := ns.Connect(t)
	s := bus.NewSubjects(r.Prefix)
	testenv.EnsureStreams(t, js, s)
	st := store.New(r.Client, r.Prefix)
	base := loadPolicy(t, "testdata/baseline.yaml")
	cand := loadPolicy(t, "testdata/candidate.yaml")

	gk := gatekeeper.New(js, st, base, gatekeeper.Options{Subjects: s, Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gk.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-gk.Ready():
	case err := <-done:
		t.Fatalf("gatekeeper: %v", err)
	}

	var want []string // the intents the candidate turns approved→suppressed
	for c := range 14 {
		customer := fmt.Sprintf("cust-%02d", c)
		k := c % 7 // 0 to 6 marketing intents
		for i := range k {
			id := fmt.Sprintf("%s-m%d", customer, i+1)
			publish(t, js, s, "campaigns", marketing(id, customer))
			if i == 3 || i == 4 {
				want = append(want, id)
			}
		}
		tx := &hushv1.ContactIntent{Id: customer + "-receipt", CustomerId: customer, Channel: "email", Category: "transactional",
			Sender: &hushv1.Sender{Service: "bank"}, CreatedAt: timestamppb.Now()}
		publish(t, js, s, "bank", tx)
	}
	// A customer who opts out of email between two pairs of intents.
	publish(t, js, s, "campaigns", marketing("late-m1", "late"))
	publish(t, js, s, "campaigns", marketing("late-m2", "late"))
	// A producer's republish of an intent already decided (after the
	// duplicate window: another message id) changes nothing.
	again, err := bus.NewMsg(s.Intent("campaigns", "email"), "cust-04-m1-again", marketing("cust-04-m1", "cust-04"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	waitDecided(t, js, s)
	svc := consent.New(st, js, consent.Options{Subjects: s})
	if _, err := svc.Apply(context.Background(), consent.Change{Customer: "late", Actor: "test", Via: "api", Mutate: func(p *hushv1.Preferences) error {
		p.OptedOutChannels = []string{"email"}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	publish(t, js, s, "campaigns", marketing("late-m3", "late"))
	publish(t, js, s, "campaigns", marketing("late-m4", "late"))
	waitDecided(t, js, s)

	rep, err := simulate.Run(context.Background(), js, simulate.Options{Subjects: s,
		Since:    time.Now().Add(-time.Hour),
		Baseline: simulate.PolicyUnder{Policy: base}, Candidate: simulate.PolicyUnder{Policy: cand},
		Examples: 1000, CompareRecorded: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rep.Examples {
		if e.Baseline != "approved" || e.Candidate != "suppressed" || e.Rule != "cap.marketing-weekly" || e.Reason != "frequency_cap" {
			t.Errorf("unexpected change %+v", e)
		}
		got = append(got, e.IntentID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("approved→suppressed:\n got %v\nwant %v", got, want)
	}
	marketingIntents := 0
	for c := range 14 {
		marketingIntents += c % 7
	}
	if rep.ApprovedToSuppressed != len(want) || rep.SuppressedToApproved != 0 || rep.Changed != len(want) ||
		rep.ByRule["cap.marketing-weekly"].ApprovedToSuppressed != len(want) || rep.ByCategory["marketing"].ApprovedToSuppressed != len(want) ||
		rep.BySender["campaigns"].ApprovedToSuppressed != len(want) || rep.ByReason["frequency_cap"].ApprovedToSuppressed != len(want) {
		t.Errorf("counts: %+v", rep)
	}
	if total := marketingIntents + 14 + 4; rep.Intents != total || rep.Duplicates != 1 {
		t.Errorf("replayed %d intents (%d duplicates), want %d (1)", rep.Intents, rep.Duplicates, total)
	}
	// late-m3 and late-m4 are suppressed (opted out) in both; the 6th of
	// the two customers with 6 over the cap of 5.
	if rep.BaselineOutcomes["suppressed"] != 2+2 {
		t.Errorf("baseline outcomes %v, want 4 suppressed", rep.BaselineOutcomes)
	}
	if rec := rep.Recorded; rec == nil || rec.Compared != rep.Intents || rec.Agree != rec.Compared || rec.Missing != 0 || rec.OtherVersions != 0 {
		t.Errorf("the baseline replay differs from the recorded decisions: %+v", rec)
	}
	// The live counters are untouched: the ledger of cust-06 holds the 5
	// marketing contacts and the receipt the gatekeeper counted, no more.
	if l, err := st.Ledger(context.Background(), "cust-06", time.Now().Add(-time.Hour)); err != nil || len(l) != 6 {
		t.Errorf("live ledger of cust-06: %d contacts (%v), want 6", len(l), err)
	}
}

// TestRepliesAreDecidedWithTheReplyWindowsOfTheirTime replays agents'
// replies against the inbound contacts the customers made (from the
// inbound stream): a reply to a thread the customer opened two hours
// earlier is a reply under the baseline's 7-day reply window, and under a
// candidate's 1-hour window it is an unsolicited contact without a purpose;
// a reply to a thread never opened is unsolicited under both.
func TestRepliesAreDecidedWithTheReplyWindowsOfTheirTime(t *testing.T) {
	ns := testenv.StartNATS(t)
	_, js := ns.Connect(t)
	s := bus.NewSubjects("replies")
	testenv.EnsureStreams(t, js, s)
	base := loadPolicy(t, "testdata/baseline.yaml")
	text, err := os.ReadFile("testdata/baseline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	short := strings.Replace(strings.Replace(string(text), "reply_window: 7d", "reply_window: 1h", 1), "sim-baseline", "sim-short-reply", 1)
	cand, err := policy.Parse("short-reply.yaml", []byte(short))
	if err != nil || cand.ReplyWindow != time.Hour {
		t.Fatalf("candidate: %v (reply window %s)", err, cand.ReplyWindow)
	}
	in := &hushv1.InboundContact{CustomerId: "asker", Channel: "sms", ThreadId: "ticket-1", ReceivedAt: timestamppb.New(time.Now().Add(-2 * time.Hour))}
	msg, err := bus.NewMsg(s.Inbound("sms"), "in-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	reply := func(id, thread string) *hushv1.ContactIntent {
		return &hushv1.ContactIntent{Id: id, CustomerId: "asker", Channel: "sms", Category: "support", Initiator: "agent",
			InReplyTo: thread, Sender: &hushv1.Sender{Service: "care", AgentId: "agent-7"}, CreatedAt: timestamppb.Now()}
	}
	publish(t, js, s, "care", reply("r-open", "ticket-1"))
	publish(t, js, s, "care", reply("r-never", "ticket-2"))

	rep, err := simulate.Run(context.Background(), js, simulate.Options{Subjects: s, Since: time.Now().Add(-time.Hour),
		Baseline: simulate.PolicyUnder{Policy: base}, Candidate: simulate.PolicyUnder{Policy: cand}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intents != 2 || rep.ApprovedToSuppressed != 1 || rep.SuppressedToApproved != 0 || len(rep.Examples) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if e := rep.Examples[0]; e.IntentID != "r-open" || e.Rule != policy.RuleUnsolicitedPurpose {
		t.Errorf("change: %+v", e)
	}
	if rep.BaselineOutcomes["suppressed"] != 1 || rep.CandidateOutcomes["suppressed"] != 2 {
		t.Errorf("outcomes: baseline %v, candidate %v", rep.BaselineOutcomes, rep.CandidateOutcomes)
	}
}
