package policy_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// BenchmarkEvaluate measures the pure rules with the default policy on the
// paths the load generator exercises most: an approval that carries cap
// checks, a critical bypass, a hard opt-out and a do-nothing customer.
func BenchmarkEvaluate(b *testing.B) {
	pol, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	intent := func(category string) *hushv1.ContactIntent {
		return &hushv1.ContactIntent{
			Id: "i-1", CustomerId: "c-42", Channel: "email", Category: category, Topic: "spring-sale",
			Sender:    &hushv1.Sender{Service: "campaigns"},
			CreatedAt: timestamppb.New(now.Add(-time.Second)), NotAfter: timestamppb.New(now.Add(time.Hour)),
		}
	}
	cases := []struct {
		name   string
		intent *hushv1.ContactIntent
		prefs  *hushv1.Preferences
	}{
		{"marketing/no-prefs", intent("marketing"), nil},
		{"service/prefs", intent("service"), &hushv1.Preferences{CustomerId: "c-42", OptedOutChannels: []string{"sms"}}},
		{"critical", intent("critical"), nil},
		{"opted-out", intent("marketing"), &hushv1.Preferences{CustomerId: "c-42", OptedOutChannels: []string{"email"}}},
		{"do-nothing", intent("marketing"), &hushv1.Preferences{CustomerId: "c-42", Mode: hushv1.Mode_MODE_DO_NOTHING}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			in := policy.Input{Intent: c.intent, Prefs: c.prefs, Now: now}
			b.ReportAllocs()
			for b.Loop() {
				v := pol.Evaluate(in)
				if v.Outcome == hushv1.Outcome_OUTCOME_UNSPECIFIED {
					b.Fatal("no outcome")
				}
			}
		})
	}
}
