package consent_test

import (
	"context"
	"testing"

	"github.com/hush-oss/hush/internal/core/consent"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestVersionsNeverRepeatAfterRedisLosesACustomer: the first change after
// Redis lost a customer is numbered past every version the consent history
// holds, and a rebuild then keeps it as the newest.
func TestVersionsNeverRepeatAfterRedisLosesACustomer(t *testing.T) {
	svc, r := newService(t)
	ctx := context.Background()
	apply := func(customer string, m func(*hushv1.Preferences) error) consent.Result {
		t.Helper()
		res, err := svc.Apply(ctx, consent.Change{Customer: customer, Actor: "test", Via: consent.ViaAPI, Mutate: m})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	region := func(r string) func(*hushv1.Preferences) error {
		return func(p *hushv1.Preferences) error { p.Region = r; return nil }
	}
	if v := apply("c-1", region("FR")).Version; v != 1 {
		t.Fatalf("first version of the first customer %d, want 1", v)
	}
	apply("c-1", region("DE"))
	before := apply("c-1", region("IT")).Version
	apply("c-2", region("ES"))

	wipe(t, r)
	res := apply("c-1", func(p *hushv1.Preferences) error { p.OptedOutChannels = []string{"email"}; return nil })
	if res.Version <= before {
		t.Fatalf("version %d after the loss, %d before: a replica caching %d could decide with it", res.Version, before, res.Version)
	}
	if next := apply("c-1", region("NL")).Version; next != res.Version+1 {
		t.Fatalf("next version %d, want %d", next, res.Version+1)
	}

	wipe(t, r)
	if _, err := svc.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	p, v, err := svc.Get(ctx, "c-1")
	if err != nil || v != res.Version+1 || p.GetRegion() != "NL" || len(p.GetOptedOutChannels()) != 1 {
		t.Fatalf("rebuilt %v at version %d (%v); want the newest change, version %d", p, v, err, res.Version+1)
	}
}
