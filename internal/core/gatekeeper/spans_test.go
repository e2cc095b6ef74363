package gatekeeper

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func TestDescribeDecisionNamesTheOutcomeOrTheFailure(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("t")

	_, ok := tr.Start(context.Background(), "decided")
	describeDecision(ok, &hushv1.Decision{Outcome: hushv1.Outcome_OUTCOME_SUPPRESSED, PolicyVersion: "v9",
		Reasons: []*hushv1.Reason{{Code: hushv1.ReasonCode_REASON_CODE_OPTED_OUT, Rule: "opt-out"}}}, true, nil)
	ok.End()
	_, failed := tr.Start(context.Background(), "failed")
	describeDecision(failed, nil, false, errors.New("decide i-1: connection refused"))
	failed.End()

	spans := rec.Ended()
	attrs := map[string]string{}
	for _, a := range spans[0].Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	for k, want := range map[string]string{"hush.outcome": "suppressed", "hush.policy_version": "v9", "hush.reason_codes": `["opted_out"]`, "hush.rules": `["opt-out"]`, "hush.replayed": "true"} {
		if attrs[k] != want {
			t.Errorf("%s = %q, want %q", k, attrs[k], want)
		}
	}
	if spans[0].Status().Code == codes.Error {
		t.Error("a decision made is no error")
	}
	if spans[1].Status().Code != codes.Error || len(spans[1].Events()) == 0 || len(spans[1].Attributes()) != 0 {
		t.Errorf("a failed decision: status %v, events %d, attributes %v", spans[1].Status(), len(spans[1].Events()), spans[1].Attributes())
	}
}
