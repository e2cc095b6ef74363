package deploy_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/hush-oss/hush/internal/platform/connect"
)

// shippedGatekeeper is the real gatekeeper running under the gatekeeper
// user of the shipped NATS configuration.
type shippedGatekeeper struct {
	// user is the gatekeeper's credential as a test reads with it.
	user *natsUser
	gk   *gatekeeper.Gatekeeper
	nc   *nats.Conn
	st   *store.Store
	// ctx ends when the test does: for what else the test starts on gk.
	ctx context.Context
}

// startShippedGatekeeper creates the streams as the gatekeeper user, then
// runs the gatekeeper (its intents consumer, and its inbound consumer when
// inbound is set) with the gatekeeper's credential and inbox prefix against
// a private Redis, with a policy of one marketing category of the given
// version. It stops when the test ends; what the test registers with
// t.Cleanup afterwards stops before it.
func startShippedGatekeeper(t *testing.T, url string, subjects bus.Subjects, version string, inbound bool) *shippedGatekeeper {
	t.Helper()
	ctx := context.Background()
	g := &shippedGatekeeper{user: connectAs(t, url, "gatekeeper")}
	if err := subjects.EnsureStreams(ctx, g.user.js, bus.DefaultStreamOptions()); err != nil {
		t.Fatalf("gatekeeper ensures the streams: %v", err)
	}
	r := testenv.StartRedis(t)
	pol, err := policy.Parse("t.yaml", []byte("version: "+version+"\ncategories:\n  marketing: { class: marketing }\n"))
	if err != nil {
		t.Fatal(err)
	}
	g.st = store.New(r.Client, r.Prefix)
	nc, js, err := connect.NATS(url, connect.NATSOptions{Name: "gatekeeper", User: "gatekeeper", Password: natsPasswords["gatekeeper"], InboxPrefix: inboxes["gatekeeper"]})
	if err != nil {
		t.Fatal(err)
	}
	g.nc = nc
	g.gk = gatekeeper.New(js, g.st, pol, gatekeeper.Options{Subjects: subjects})
	gctx, stop := context.WithCancel(ctx)
	g.ctx = gctx
	runs := []func(context.Context) error{g.gk.Run}
	if inbound {
		runs = append(runs, g.gk.RunInbound)
	}
	done := make(chan error, len(runs))
	for _, run := range runs {
		go func() { done <- run(gctx) }()
	}
	t.Cleanup(func() {
		stop()
		for range runs {
			if err := <-done; err != nil {
				t.Errorf("gatekeeper: %v", err)
			}
		}
		nc.Close()
	})
	return g
}
