package testenv

import (
	"regexp"
	"testing"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
)

var quietEnforced = regexp.MustCompile(`(?m)^(\s*quiet_hours:\s*)\{ mode: enforce \}`)

// DaytimeDefaultPolicy is the default policy with its quiet hours in shadow
// mode, and its YAML: for tests that expect an approval and must not see a
// deferral because they run at night in the fallback time zone.
func DaytimeDefaultPolicy(t testing.TB) (*policy.Policy, []byte) {
	t.Helper()
	if !quietEnforced.Match(policyfiles.Default) {
		t.Fatal("deploy/policy/default.yaml no longer says `quiet_hours: { mode: enforce }` under rules; update testenv.DaytimeDefaultPolicy")
	}
	data := quietEnforced.ReplaceAll(policyfiles.Default, []byte("${1}{ mode: shadow }"))
	pol, err := policy.Parse(policyfiles.DefaultName, data)
	if err != nil {
		t.Fatal(err)
	}
	return pol, data
}
