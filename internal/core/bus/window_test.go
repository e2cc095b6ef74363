package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

// TestDuplicateWindowIsASettingNoOtherServiceResets: the gatekeeper's
// duplicate window is set on the streams; a service that ensures the
// streams without one (zero) keeps it, instead of resetting it to 10 min.
func TestDuplicateWindowIsASettingNoOtherServiceResets(t *testing.T) {
	_, js := testenv.StartNATS(t).Connect(t)
	s := bus.NewSubjects("")
	ctx := context.Background()
	window := func() time.Duration {
		t.Helper()
		st, err := js.Stream(ctx, s.Stream(bus.StreamIntents))
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config.Duplicates
	}
	ensure := func(w time.Duration) {
		t.Helper()
		o := bus.DefaultStreamOptions()
		o.DuplicateWindow = w
		if err := s.EnsureStreams(ctx, js, o); err != nil {
			t.Fatal(err)
		}
	}
	ensure(0)
	if got := window(); got != bus.DefaultDuplicateWindow {
		t.Fatalf("created without a window: %s, want %s", got, bus.DefaultDuplicateWindow)
	}
	ensure(3 * time.Second)
	if got := window(); got != 3*time.Second {
		t.Fatalf("window %s, want the 3s set", got)
	}
	ensure(0)
	if got := window(); got != 3*time.Second {
		t.Fatalf("window %s after a service without the setting ensured the streams; want the 3s kept", got)
	}
}
