package client_test

import (
	"slices"
	"testing"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/pkg/client"
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
