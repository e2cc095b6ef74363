package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/demo"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestTallyKeepsDeferralsApart reads the streams as the gatekeeper writes
// them: a deferral's log entry, then its release dispatched; a suppression;
// a deferral still waiting. The tally shows the deferral as deferred (not
// suppressed) and its release once.
func TestTallyKeepsDeferralsApart(t *testing.T) {
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	s := bus.NewSubjects("")
	testenv.EnsureStreams(t, js, s)
	ctx := context.Background()
	logRecord := func(id, msgID string, outcome hushv1.Outcome, code hushv1.ReasonCode) {
		rec := &hushv1.SuppressionRecord{Decision: &hushv1.Decision{IntentId: id, CustomerId: "c-1", Channel: "sms", Outcome: outcome,
			Reasons: []*hushv1.Reason{{Code: code, Rule: "quiet_hours"}}}}
		msg, err := bus.NewMsg(s.Suppressed("sms"), msgID, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	logRecord("late", "deferred-late", hushv1.Outcome_OUTCOME_DEFERRED, hushv1.ReasonCode_REASON_CODE_QUIET_HOURS)
	released := nats.NewMsg(s.Dispatch("sms"))
	released.Header.Set(bus.HeaderMsgID, "late")
	released.Data = []byte("x")
	if _, err := js.PublishMsg(ctx, released); err != nil {
		t.Fatal(err)
	}
	logRecord("no", "no", hushv1.Outcome_OUTCOME_SUPPRESSED, hushv1.ReasonCode_REASON_CODE_OPTED_OUT)
	logRecord("waits", "deferred-waits", hushv1.Outcome_OUTCOME_DEFERRED, hushv1.ReasonCode_REASON_CODE_QUIET_HOURS)

	tally := demo.NewTally()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := tally.Follow(fctx, js, s); err != nil {
		t.Fatal(err)
	}
	want := "dispatched 1 | suppressed 1 (opted_out 1) | deferred 1 | dead-lettered 0"
	for deadline := time.Now().Add(10 * time.Second); tally.String() != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tally %q, want %q", tally.String(), want)
		}
	}
	if strings.Contains(tally.String(), "quiet_hours") {
		t.Errorf("a deferral counted as a suppression: %s", tally)
	}
}
