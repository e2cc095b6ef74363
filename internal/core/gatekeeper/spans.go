package gatekeeper

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// consumeAttributes describe a received intent on its CONSUMER span, in the
// OpenTelemetry messaging conventions.
func consumeAttributes(subject string, data []byte, durable string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", subject),
		attribute.String("messaging.consumer.group.name", durable),
		attribute.Int("messaging.message.body.size", len(data)),
	}
}

// decisionAttributes describe a decision on a span: outcome, reason codes,
// rules and policy version. Never the destination or the payload.
func decisionAttributes(d *hushv1.Decision, replayed bool) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("hush.outcome", policy.ShortOutcome(d.GetOutcome())),
		attribute.String("hush.policy_version", d.GetPolicyVersion()),
		attribute.Bool("hush.replayed", replayed),
	}
	codes := func(rs []*hushv1.Reason) (c, rules []string) {
		for _, r := range rs {
			c, rules = append(c, policy.ShortCode(r.GetCode())), append(rules, r.GetRule())
		}
		return c, rules
	}
	if c, rules := codes(d.GetReasons()); len(c) > 0 {
		attrs = append(attrs, attribute.StringSlice("hush.reason_codes", c), attribute.StringSlice("hush.rules", rules))
	}
	if c, rules := codes(d.GetShadowReasons()); len(c) > 0 {
		attrs = append(attrs, attribute.StringSlice("hush.shadow_reason_codes", c), attribute.StringSlice("hush.shadow_rules", rules))
	}
	return attrs
}

// describeDecision puts a decision, once made, on the intent's CONSUMER
// span, where a trace search by outcome or reason finds it; a decision that
// failed (the intent is handed back) marks the span with the error.
func describeDecision(span trace.Span, d *hushv1.Decision, replayed bool, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "decide")
		return
	}
	if d != nil && span.IsRecording() { // the attributes cost allocations even unrecorded
		span.SetAttributes(decisionAttributes(d, replayed)...)
	}
}
