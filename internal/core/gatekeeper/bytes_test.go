package gatekeeper_test

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/gatekeeper"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// deadLetters waits, at most a few seconds, for n dead letters and returns
// them decoded: whatever its bytes and size, a message on an intent subject
// ends in one terminal outcome within seconds.
func (h *harness) deadLetters(n int) []*hushv1.DeadLetter {
	h.t.Helper()
	waitFor(h.t, 10*time.Second, "dead letters", func() bool { return h.streamMsgs(bus.StreamDeadLetter) >= uint64(n) })
	var out []*hushv1.DeadLetter
	for _, m := range h.read(bus.StreamDeadLetter) {
		out = append(out, deadLetter(h.t, m))
	}
	return out
}

func TestBytesThatAreNotUTF8AreDeadLetteredAsBytes(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	data := []byte{0xff}
	h.publishRaw(h.subjects.Intent("campaigns", "email"), data, nats.Header{"Content-Type": {"application/json"}})

	dead := h.deadLetters(1)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	dl := dead[0]
	sum := sha256.Sum256(data)
	if !bytes.Equal(dl.GetData(), data) || dl.GetDataTruncated() || dl.GetDataSize() != 1 || !bytes.Equal(dl.GetDataSha256(), sum[:]) {
		t.Fatalf("dead letter data %x (truncated %v, size %d, sha256 %x); want the raw byte", dl.GetData(), dl.GetDataTruncated(), dl.GetDataSize(), dl.GetDataSha256())
	}
	if dl.GetStage() != "decode" || dl.GetError() == "" {
		t.Fatalf("dead letter stage %q error %q; want decode with the error", dl.GetStage(), dl.GetError())
	}
	waitAcked(t, h, 1)
}

func TestGarbageAtTheMaxPayloadIsDeadLetteredWithPrefixSizeAndHash(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	data := bytes.Repeat([]byte{0xff, 0xfe, 0x00, '{'}, int(h.nc.MaxPayload()-64)/4)
	h.publishRaw(h.subjects.Intent("campaigns", "email"), data, nil)

	dead := h.deadLetters(1)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	dl := dead[0]
	sum := sha256.Sum256(data)
	if !dl.GetDataTruncated() || dl.GetDataSize() != uint64(len(data)) || !bytes.Equal(dl.GetDataSha256(), sum[:]) {
		t.Fatalf("dead letter: truncated %v, size %d, sha256 %x; want truncated, %d, %x", dl.GetDataTruncated(), dl.GetDataSize(), dl.GetDataSha256(), len(data), sum)
	}
	if len(dl.GetData()) == 0 || !bytes.HasPrefix(data, dl.GetData()) {
		t.Fatalf("dead letter data of %d bytes is not a prefix of the message", len(dl.GetData()))
	}
	waitAcked(t, h, 1)
}

func TestIntentTooLargeToDispatchIsDeadLetteredWithThatReason(t *testing.T) {
	h := newHarness(t)
	h.startGatekeeper(gatekeeper.Options{})
	// A valid intent that fits, a few bytes under the max payload; its
	// dispatch, which adds headers, cannot.
	it := intent("big-1", "c-1", "email", "marketing")
	it.Payload = nil
	room := int(h.nc.MaxPayload()) - len(mustMarshal(t, it)) - 16
	it.Payload = slices.Repeat([]byte("x"), room)
	data := mustMarshal(t, it)
	if len(data) > int(h.nc.MaxPayload()) || len(data) < int(h.nc.MaxPayload())-32 {
		t.Fatalf("intent of %d bytes; want just under %d", len(data), h.nc.MaxPayload())
	}
	h.publishRaw(h.subjects.Intent("campaigns", "email"), data, nil)
	h.publish(intent("small-1", "c-1", "email", "marketing"))

	dead := h.deadLetters(1)
	if len(dead) != 1 || dead[0].GetStage() != "too_large" {
		t.Fatalf("dead letters %v; want one, too_large", dead)
	}
	dl := dead[0]
	sum := sha256.Sum256(data)
	if dl.GetDataSize() != uint64(len(data)) || !bytes.Equal(dl.GetDataSha256(), sum[:]) || !bytes.HasPrefix(data, dl.GetData()) {
		t.Fatalf("dead letter: size %d, sha256 %x; want %d, %x", dl.GetDataSize(), dl.GetDataSha256(), len(data), sum)
	}
	dispatched, suppressed, _ := h.outcomes(2)
	if len(dispatched) != 1 || dispatched[0].Headers().Get(nats.MsgIdHdr) != "small-1" || len(suppressed) != 0 {
		t.Fatalf("dispatched %d, suppressed %d; want only small-1 dispatched", len(dispatched), len(suppressed))
	}
	// Nothing was counted for the intent that was never sent.
	assertLedger(t, h, "c-1", 1)
	waitAcked(t, h, 2)
}
