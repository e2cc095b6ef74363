package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/consent"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestPrefsShowConsentAndItsProof: prefs get and prefs history show who
// gave consent, when and how, and the STOP revocations with their deadline.
func TestPrefsShowConsentAndItsProof(t *testing.T) {
	c := newCLI(t)
	svc := consent.New(c.store, c.js, consent.Options{Subjects: c.subjects(), Now: c.clock})
	given := time.Date(2026, 11, 20, 9, 15, 0, 0, time.UTC)
	apply := func(actor, via string, f func(p *hushv1.Preferences)) {
		t.Helper()
		if _, err := svc.Apply(context.Background(), consent.Change{Customer: "c-7", Actor: actor, Via: via,
			Mutate: func(p *hushv1.Preferences) error { f(p); return nil }}); err != nil {
			t.Fatal(err)
		}
	}
	apply("agent-7", consent.ViaAPI, func(p *hushv1.Preferences) {
		consent.RecordGrant(p, &hushv1.ConsentGrant{Category: "newsletter", Channel: "email", GivenAt: timestamppb.New(given),
			Method: "verbal", WordingVersion: "nl-2026-10", Source: "call-881"})
	})
	stop := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	apply(consent.ActorCustomer, consent.ViaStopKeyword, func(p *hushv1.Preferences) {
		consent.AddRevocation(p, &hushv1.Revocation{Channel: "sms", At: timestamppb.New(stop), Via: consent.ViaStopKeyword,
			Language: "en", HonourBy: timestamppb.New(stop.AddDate(0, 0, 14))})
	})

	get := c.run("prefs", "get", "c-7")
	for _, want := range []string{
		"newsletter on email, given 2026-11-20T09:15:00Z by verbal (wording nl-2026-10, source call-881)",
		"sms from the whole company at 2026-11-23T10:00:00Z via stop_keyword (en), honour by 2026-12-07T10:00:00Z",
	} {
		if !strings.Contains(get, want) {
			t.Errorf("prefs get does not say %q:\n%s", want, get)
		}
	}
	hist := c.run("prefs", "history", "c-7")
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "agent-7") || !strings.Contains(lines[1], "api") ||
		!strings.Contains(lines[1], "given 2026-11-20T09:15:00Z by verbal (wording nl-2026-10, source call-881)") ||
		!strings.Contains(lines[2], "customer") || !strings.Contains(lines[2], "stop_keyword") || !strings.Contains(lines[2], "honour by 2026-12-07") {
		t.Errorf("prefs history does not show who gave consent, when and how:\n%s", hist)
	}
}
