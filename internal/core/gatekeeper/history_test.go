package gatekeeper_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Every terminal outcome lands in the customer's own history, without the
// payload or destination, and an agent's contact to a customer who had not
// reached out says so on its outcome and its record; the sender attempts
// metric counts it per service, never per agent.
func TestHistoryRecordsEveryOutcomeAndWhoPushedUnasked(t *testing.T) {
	w := newTelWorld(t)
	agent := func(id, purpose string) *hushv1.ContactIntent {
		it := telIntent(id, "c-hist", "sms", "marketing", telPhone)
		it.Sender = &hushv1.Sender{Service: "support", AgentId: "agent-007"}
		it.Initiator, it.Purpose, it.Payload = "agent", purpose, []byte("call me back")
		return it
	}
	system := telIntent("h-sys", "c-hist", "email", "marketing", telEmail)
	system.Payload = []byte("our sale")
	for _, it := range []*hushv1.ContactIntent{system, agent("h-agent", "renewal"), agent("h-nopurpose", "")} {
		m := nats.NewMsg(w.subjects.Intent(it.GetSender().GetService(), it.GetChannel()))
		m.Data, _ = proto.Marshal(it)
		if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	hist := w.waitMsgs(bus.StreamOutcomes, 3)
	unsolicited := map[string]string{}
	for _, m := range hist {
		rec := new(hushv1.SuppressionRecord)
		if err := proto.Unmarshal(m.Data(), rec); err != nil {
			t.Fatal(err)
		}
		id := rec.GetDecision().GetIntentId()
		if want := w.subjects.Outcome(rec.GetIntent().GetSender().GetService(), rec.GetIntent().GetChannel(), "c-hist"); m.Subject() != want {
			t.Errorf("%s: history record on %s, want its producer's and customer's subject %s", id, m.Subject(), want)
		}
		unsolicited[id] = m.Headers().Get(bus.HeaderUnsolicited)
		if rec.GetIntent().GetPayload() != nil || rec.GetIntent().GetDestination() != "" || strings.Contains(string(m.Data()), telPhone) {
			t.Errorf("%s: history holds the payload or the destination", id)
		}
		if m.Headers().Get(bus.HeaderMsgID) != id {
			t.Errorf("%s: history record's Nats-Msg-Id %q", id, m.Headers().Get(bus.HeaderMsgID))
		}
	}
	if want := map[string]string{"h-sys": "", "h-agent": "true", "h-nopurpose": "true"}; fmt.Sprint(unsolicited) != fmt.Sprint(want) {
		t.Errorf("history's unsolicited headers %v, want %v", unsolicited, want)
	}
	// The outcomes say it too: the agent's dispatch and suppression.
	for _, m := range append(w.waitMsgs(bus.StreamDispatch, 2), w.waitMsgs(bus.StreamSuppressed, 1)...) {
		id := m.Headers().Get(bus.HeaderMsgID)
		if got := m.Headers().Get(bus.HeaderUnsolicited); got != unsolicited[id] {
			t.Errorf("%s on %s: unsolicited header %q, want %q", id, m.Subject(), got, unsolicited[id])
		}
	}

	wants := []struct {
		labels []string
		value  string
	}{
		{[]string{`service="campaigns"`, `outcome="approved"`, `reason="none"`, `unsolicited="false"`}, "1"},
		{[]string{`service="support"`, `outcome="approved"`, `reason="none"`, `unsolicited="true"`}, "1"},
		{[]string{`service="support"`, `outcome="suppressed"`, `reason="unsolicited_no_purpose"`, `unsolicited="true"`}, "1"},
	}
	var text string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		text = scrapeMetrics(t, w.tel.MetricsHandler())
		missing := 0
		for _, want := range wants {
			if got, ok := metricSample(text, gatekeeper.MetricSenderAttempts, want.labels...); !ok || got != want.value {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not as wanted after 30s:\n%s", gatekeeper.MetricSenderAttempts, text)
		}
	}
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, gatekeeper.MetricSenderAttempts) && (strings.Contains(line, "agent-007") || strings.Contains(line, "agent=") || strings.Contains(line, "c-hist")) {
			t.Errorf("an agent or a customer is a label: %s", line)
		}
	}
}

// The service label is bounded: a flood of service names (a misconfigured
// producer) becomes "other" past MaxServiceLabels.
func TestSenderAttemptsServiceLabelIsBounded(t *testing.T) {
	tel, m := newMetrics(t)
	d := &hushv1.Decision{Outcome: hushv1.Outcome_OUTCOME_APPROVED}
	for i := range gatekeeper.MaxServiceLabels + 10 {
		m.Pressed(fmt.Sprintf("svc-%d", i), d, false)
	}
	text := scrapeMetrics(t, tel.MetricsHandler())
	services := 0
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, gatekeeper.MetricSenderAttempts+"{") {
			services++
		}
	}
	if services != gatekeeper.MaxServiceLabels+1 {
		t.Errorf("%d series, want %d services and other", services, gatekeeper.MaxServiceLabels)
	}
	if got, ok := metricSample(text, gatekeeper.MetricSenderAttempts, `service="other"`); !ok || got != "10" {
		t.Errorf(`service="other" = %q, want 10`, got)
	}
}
