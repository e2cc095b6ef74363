package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

// TestIntentRetentionIsKeptByServicesThatDoNotOwnIt: the gatekeeper sets
// how long intents and inbound contacts are kept (for simulations); another
// service ensuring the streams with no IntentRetention (the preference
// service) keeps it, and the dispatch stream keeps its own Retention.
func TestIntentRetentionIsKeptByServicesThatDoNotOwnIt(t *testing.T) {
	ns := testenv.StartNATS(t)
	_, js := ns.Connect(t)
	s := bus.NewSubjects("ret")
	ctx := context.Background()
	maxAge := func(kind string) time.Duration {
		t.Helper()
		st, err := js.Stream(ctx, s.Stream(kind))
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config.MaxAge
	}
	gk := bus.DefaultStreamOptions()
	gk.IntentRetention = 30 * 24 * time.Hour
	if err := s.EnsureStreams(ctx, js, gk); err != nil {
		t.Fatal(err)
	}
	other := bus.DefaultStreamOptions()
	if err := s.EnsureStreams(ctx, js, other); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{bus.StreamIntents, bus.StreamInbound} {
		if got := maxAge(kind); got != 30*24*time.Hour {
			t.Errorf("%s keeps %s, want 720h", kind, got)
		}
	}
	if got := maxAge(bus.StreamDispatch); got != other.Retention {
		t.Errorf("dispatch keeps %s, want %s", got, other.Retention)
	}
	gk.IntentRetention = 7 * 24 * time.Hour
	if err := s.EnsureStreams(ctx, js, gk); err != nil {
		t.Fatal(err)
	}
	if got := maxAge(bus.StreamIntents); got != 7*24*time.Hour {
		t.Errorf("intents keep %s after the gatekeeper's change, want 168h", got)
	}
}
