package client_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/pkg/client"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// The SDK does not compile the policy; its lists must still say what the
// gatekeeper says.
func TestSDKListsMatchTheGatekeeper(t *testing.T) {
	p, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(slices.Values(client.DefaultCategories)), p.CategoryNames(); !slices.Equal(got, want) {
		t.Errorf("client.DefaultCategories %v, default policy %v", got, want)
	}
	if !slices.Equal(client.Channels, policy.Channels) {
		t.Errorf("client.Channels %v, policy.Channels %v", client.Channels, policy.Channels)
	}
}

// The SDK's structural check says what the gatekeeper's says, message for
// message, for intents under the default policy.
func TestSDKValidationMatchesTheGatekeeper(t *testing.T) {
	p, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		t.Fatal(err)
	}
	ok := func() *hushv1.ContactIntent {
		return &hushv1.ContactIntent{Id: "i-1", CustomerId: "c-1", Channel: "email", Category: "marketing",
			Sender: &hushv1.Sender{Service: "s"}}
	}
	tests := []struct {
		name   string
		change func(*hushv1.ContactIntent)
	}{
		{"valid", func(*hushv1.ContactIntent) {}},
		{"no id", func(it *hushv1.ContactIntent) { it.Id = "" }},
		{"long id", func(it *hushv1.ContactIntent) { it.Id = strings.Repeat("x", 129) }},
		{"id with a space", func(it *hushv1.ContactIntent) { it.Id = "a b" }},
		{"id with a brace", func(it *hushv1.ContactIntent) { it.Id = "a{b" }},
		{"customer not UTF-8", func(it *hushv1.ContactIntent) { it.CustomerId = "\xff" }},
		{"unknown channel", func(it *hushv1.ContactIntent) { it.Channel = "fax" }},
		{"no category", func(it *hushv1.ContactIntent) { it.Category = "" }},
		{"unknown category", func(it *hushv1.ContactIntent) { it.Category = "gossip" }},
		{"category in capitals", func(it *hushv1.ContactIntent) { it.Category = "Marketing" }},
		{"bad initiator", func(it *hushv1.ContactIntent) { it.Initiator = "robot" }},
		{"agent without id", func(it *hushv1.ContactIntent) { it.Initiator = "agent" }},
		{"agent", func(it *hushv1.ContactIntent) { it.Initiator = "agent"; it.Sender.AgentId = "a-1" }},
		{"topic with a tab", func(it *hushv1.ContactIntent) { it.Topic = "a\tb" }},
		{"reply to with a space", func(it *hushv1.ContactIntent) { it.InReplyTo = "t 1" }},
		{"no sender", func(it *hushv1.ContactIntent) { it.Sender = nil }},
		{"long purpose", func(it *hushv1.ContactIntent) { it.Purpose = strings.Repeat("p", 513) }},
		{"every channel", func(it *hushv1.ContactIntent) { it.Channel = "in_app" }},
		{"high priority", func(it *hushv1.ContactIntent) { it.Priority = "high" }},
		{"unknown priority", func(it *hushv1.ContactIntent) { it.Priority = "vip" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := ok()
			tt.change(it)
			sdk, gk := client.Validate(it, client.DefaultCategories), p.Validate(it, it.GetChannel())
			if fmt.Sprint(sdk) != fmt.Sprint(gk) {
				t.Errorf("SDK says %v, the gatekeeper %v", sdk, gk)
			}
			if gk != nil && !errors.Is(sdk, client.ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", sdk)
			}
		})
	}
}
