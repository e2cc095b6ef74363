package deploy_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// natsPasswords are the test's; the config reads them from the environment.
var natsPasswords = map[string]string{
	"gatekeeper": "gk-test-8c1d", "producer": "prod-test-3e7a", "prefs": "prefs-test-52b0",
	"sink": "sink-test-9a44", "admin": "admin-test-0f6e",
	"inbound-email": "in-email-test-11c2", "inbound-sms": "in-sms-test-7d03", "inbound-push": "in-push-test-2b95",
	"inbound-voice": "in-voice-test-c4e8", "inbound-whatsapp": "in-wa-test-58f1", "inbound-in_app": "in-app-test-0a7b",
}

// passwordVar is the environment variable deploy/nats/accounts.conf reads
// a user's password from: inbound-in_app's is HUSH_NATS_INBOUND_IN_APP_PASSWORD.
func passwordVar(user string) string {
	return "HUSH_NATS_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_")) + "_PASSWORD"
}

// inboxes are the private reply prefixes deploy/nats/accounts.conf grants.
var inboxes = map[string]string{"gatekeeper": "_HUSH_INBOX.gatekeeper", "sink": "_HUSH_INBOX.sink", "prefs": "_HUSH_INBOX.prefs"}

// startNATS loads deploy/nats/nats.conf itself (accounts, permissions,
// JetStream settings) into an in-process server on a free port with a
// temporary store.
func startNATS(t *testing.T) string {
	t.Helper()
	for user, pw := range natsPasswords {
		t.Setenv(passwordVar(user), pw)
	}
	ns, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: t.TempDir(), ConfigFile: "nats/nats.conf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
	if got := ns.JetStreamConfig().SyncAlways; !got {
		t.Error("sync_interval: always is not in force")
	}
	return ns.ClientURL()
}

// natsUser connects as user and records the permission errors the server
// sends back asynchronously.
type natsUser struct {
	nc *nats.Conn
	js jetstream.JetStream
	mu sync.Mutex
	// violations are the server's permission errors.
	violations []string
}

func connectAs(t *testing.T, url, user string) *natsUser {
	t.Helper()
	u := &natsUser{}
	opts := []nats.Option{nats.UserInfo(user, natsPasswords[user]), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		u.mu.Lock()
		u.violations = append(u.violations, err.Error())
		u.mu.Unlock()
	})}
	if p := inboxes[user]; p != "" {
		opts = append(opts, nats.CustomInboxPrefix(p))
	}
	var err error
	if u.nc, err = nats.Connect(url, opts...); err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(u.nc.Close)
	if u.js, err = jetstream.New(u.nc); err != nil {
		t.Fatal(err)
	}
	return u
}

// violated waits briefly for a permissions violation naming subject.
func (u *natsUser) violated(subject string) bool {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		u.mu.Lock()
		for _, v := range u.violations {
			if strings.Contains(strings.ToLower(v), "permissions violation") && strings.Contains(v, subject) {
				u.mu.Unlock()
				return true
			}
		}
		u.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestNATSPermissionsKeepProducersBehindTheGate(t *testing.T) {
	url := startNATS(t)
	subjects := bus.NewSubjects("")
	ctx := context.Background()

	// An unknown user, and no user at all, are refused.
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("an anonymous connection was accepted")
	}
	if nc, err := nats.Connect(url, nats.UserInfo("producer", "wrong")); err == nil {
		nc.Close()
		t.Error("a wrong password was accepted")
	}

	// The gatekeeper's credential: it creates the streams and runs the real
	// gatekeeper (JetStream consume, publish, ack) against a real Redis.
	gkUser := startShippedGatekeeper(t, url, subjects, "perms-1", false).user

	// A producer publishes an intent (JetStream ack on _INBOX), and the
	// gatekeeper dispatches it.
	producer := connectAs(t, url, "producer")
	data, _ := proto.Marshal(&hushv1.ContactIntent{Id: "p-1", CustomerId: "c-1", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "demo"}})
	if _, err := producer.js.Publish(ctx, subjects.Intent("demo", "email"), data); err != nil {
		t.Fatalf("producer publishes an intent: %v", err)
	}
	if _, err := producer.js.Stream(ctx, subjects.Stream(bus.StreamIntents)); err != nil {
		t.Errorf("producer may wait for the intents stream: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for streamMsgs(t, gkUser.js, subjects.Stream(bus.StreamDispatch)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the gatekeeper did not dispatch the producer's intent")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The gatekeeper publishes the policy it runs; the operators' user
	// (hushctl) reads it; a producer cannot forge it.
	admin := connectAs(t, url, "admin")
	if v, text, err := bus.ReadPolicy(ctx, admin.js, subjects, ""); err != nil || v != "perms-1" || !strings.Contains(string(text), "perms-1") {
		t.Errorf("policy in force as hushctl reads it: %q, %v", v, err)
	}
	producer.nc.Publish("$KV."+subjects.PolicyBucket()+"."+bus.PolicyCurrent, []byte("forged"))
	producer.nc.Flush()
	if !producer.violated(`"$KV.` + subjects.PolicyBucket()) {
		t.Errorf("no permissions violation for a producer's write to the policies bucket; errors: %v", producer.violations)
	}

	// The producer cannot publish a dispatch, with JetStream or plain NATS.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := producer.js.Publish(pctx, subjects.Dispatch("email"), data, jetstream.WithMsgID("forged-1"))
	cancel()
	if err == nil {
		t.Error("producer published to hush.dispatch.email")
	}
	if !producer.violated(`"hush.dispatch.email"`) {
		t.Errorf("no permissions violation for hush.dispatch.email; errors: %v", producer.violations)
	}
	producer.nc.Publish(subjects.Dispatch("sms"), data)
	producer.nc.Publish(subjects.Suppressed("sms"), data)
	producer.nc.Publish(subjects.DeadLetter(), data)
	producer.nc.Flush()
	for _, s := range []string{`"hush.dispatch.sms"`, `"hush.suppressed.sms"`, `"hush.deadletter"`} {
		if !producer.violated(s) {
			t.Errorf("no permissions violation for %s", s)
		}
	}

	// Nor can it change streams to route intents around the gate, delete
	// them, or read what the gatekeeper and the senders pull.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := producer.js.UpdateStream(cctx, jetstream.StreamConfig{Name: subjects.Stream(bus.StreamDispatch),
		Subjects: []string{subjects.All("dispatch")}, Sources: []*jetstream.StreamSource{{Name: subjects.Stream(bus.StreamIntents)}}}); err == nil {
		t.Error("producer updated the dispatch stream")
	}
	if err := producer.js.DeleteStream(cctx, subjects.Stream(bus.StreamIntents)); err == nil {
		t.Error("producer deleted the intents stream")
	}
	if _, err := producer.js.CreateOrUpdateConsumer(cctx, subjects.Stream(bus.StreamDispatch), jetstream.ConsumerConfig{Durable: "spy"}); err == nil {
		t.Error("producer created a consumer on the dispatch stream")
	}
	for _, subj := range []string{"_HUSH_INBOX.gatekeeper.>", "_HUSH_INBOX.sink.>", "_HUSH_INBOX.prefs.>", subjects.All("dispatch"), subjects.All("intent")} {
		if _, err := producer.nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		producer.nc.Flush()
		if !producer.violated(`"` + subj + `"`) {
			t.Errorf("producer subscribed to %s", subj)
		}
	}

	// A sender reads the dispatch with its own durable consumer and acks
	// it, but cannot publish a dispatch either.
	sink := connectAs(t, url, "sink")
	cons, err := sink.js.CreateOrUpdateConsumer(ctx, subjects.Stream(bus.StreamDispatch), jetstream.ConsumerConfig{
		Durable: "sender", FilterSubject: subjects.All("dispatch"), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("sink creates its consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if m.Headers().Get(nats.MsgIdHdr) != "p-1" {
			t.Errorf("sink read %v", m.Headers())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("sink acks: %v", err)
		}
	}
	if n != 1 || batch.Error() != nil {
		t.Fatalf("sink fetched %d dispatches: %v", n, batch.Error())
	}
	sink.nc.Publish(subjects.Dispatch("email"), data)
	sink.nc.Publish(subjects.Intent("demo", "email"), data)
	sink.nc.Flush()
	if !sink.violated(`"hush.dispatch.email"`) || !sink.violated(`"hush.intent.demo.email"`) {
		t.Errorf("sink published outside its permissions: %v", sink.violations)
	}

	// Preferences: ensures the streams (as its binary does at start-up),
	// writes the consent history and inbound contacts, not dispatches.
	prefs := connectAs(t, url, "prefs")
	if err := subjects.EnsureStreams(ctx, prefs.js, bus.DefaultStreamOptions()); err != nil {
		t.Errorf("prefs ensures the streams: %v", err)
	}
	if _, err := prefs.js.Publish(ctx, subjects.PrefsChanged(), []byte("{}")); err != nil {
		t.Errorf("prefs publishes the consent history: %v", err)
	}
	if _, err := prefs.js.Publish(ctx, subjects.Inbound("email"), []byte("{}")); err != nil {
		t.Errorf("prefs publishes an inbound contact: %v", err)
	}
	// It reads the consent history back (hushctl prefs history, rebuild)
	// through its private inbox.
	hist, err := prefs.js.OrderedConsumer(ctx, subjects.Stream(bus.StreamPrefs), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("prefs reads the consent history: %v", err)
	}
	if m, err := hist.Next(jetstream.FetchMaxWait(10 * time.Second)); err != nil || m.Subject() != subjects.PrefsChanged() {
		t.Errorf("prefs reads the consent history: %v", err)
	}
	prefs.nc.Publish(subjects.Dispatch("email"), data)
	prefs.nc.Flush()
	if !prefs.violated(`"hush.dispatch.email"`) {
		t.Errorf("prefs published a dispatch")
	}

	if got := streamMsgs(t, gkUser.js, subjects.Stream(bus.StreamDispatch)); got != 1 {
		t.Errorf("dispatch stream holds %d messages; only the gatekeeper's one may be there", got)
	}
	if got := streamMsgs(t, gkUser.js, subjects.Stream(bus.StreamSuppressed)); got != 0 {
		t.Errorf("suppression log holds %d forged messages", got)
	}
}

func TestNATSConfigRefusesToStartWithoutPasswords(t *testing.T) {
	for user, pw := range natsPasswords {
		t.Setenv(passwordVar(user), pw)
	}
	t.Setenv("HUSH_NATS_PRODUCER_PASSWORD", "")
	// An empty variable still resolves; unset it entirely.
	unsetenv(t, "HUSH_NATS_PRODUCER_PASSWORD")
	_, err := localsrv.StartNATS(localsrv.NATSOptions{StoreDir: t.TempDir(), ConfigFile: "nats/nats.conf"})
	if err == nil || !strings.Contains(err.Error(), "HUSH_NATS_PRODUCER_PASSWORD") {
		t.Fatalf("started without the producer's password: %v", err)
	}
}

func unsetenv(t *testing.T, k string) {
	t.Helper()
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}
