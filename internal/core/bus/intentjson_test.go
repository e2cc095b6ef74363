package bus

import (
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func fullIntent() *hushv1.ContactIntent {
	now := time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)
	return &hushv1.ContactIntent{
		Id: "i-1", CustomerId: "c-1", Channel: "email", Category: "marketing", Topic: "spring-sale",
		Sender: &hushv1.Sender{Service: "campaigns", AgentId: "a-7"}, Initiator: "agent", Purpose: "follow-up",
		InReplyTo: "t-9", CreatedAt: timestamppb.New(now), NotAfter: timestamppb.New(now.Add(time.Hour)),
		Destination: "someone@example.com", Payload: []byte("hello, payload"),
	}
}

// intentJSONSeeds are the shapes the fast path takes and the ones it must
// leave to protojson, valid or not.
func intentJSONSeeds() []string {
	full, _ := protojson.Marshal(fullIntent())
	return []string{
		string(full),
		`{"id":"i-1","customer_id":"c-1","channel":"sms","category":"critical","sender":{"service":"s","agent_id":"a"},"created_at":"2026-01-02T03:04:05Z","in_reply_to":"t"}`,
		` { "id" : "i-2" , "customerId":"c" ,"sender":{ }, "notAfter":"2026-01-02T03:04:05.5+02:00" } `,
		`{}`,
		`{"id":"caf\u00e9"}`, // an escape: protojson's
		`{"id":"café ☕"}`,
		"{\"id\":\"\xff\"}", // invalid UTF-8
		`{"id":null}`,
		`{"id":"a","id":"b"}`,
		`{"customerId":"a","customer_id":"b"}`,
		`{"unknown":"x"}`,
		`{"id":1}`,
		`{"id":"a"} x`,
		`{"id":"a",}`,
		`{"payload":"aGVsbG8"}`,
		`{"payload":"aGVsbG8-_w=="}`,
		`{"payload":"!!"}`,
		`{"createdAt":"2026-13-02T03:04:05Z"}`,
		`{"createdAt":"0000-01-01T00:00:00Z"}`,
		`{"createdAt":"2026-01-02T03:04:05.1234567891Z"}`,
		`{"createdAt":"2026-01-02t03:04:05z"}`,
		`{"createdAt":{"seconds":1}}`,
		`{"sender":{"service":"a","service":"b"}}`,
		`{"sender":null}`,
		`[]`,
		``,
		`{"id":"tab	inside"}`,
	}
}

// FuzzIntentJSONMatchesProtojson holds the fast path to protojson: whatever
// it accepts, protojson accepts too, as the same message; and DecodeIntent
// succeeds or fails exactly when protojson does.
func FuzzIntentJSONMatchesProtojson(f *testing.F) {
	for _, s := range intentJSONSeeds() {
		f.Add([]byte(s))
	}
	h := map[string][]string{HeaderContentType: {ContentTypeJSON}}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := new(hushv1.ContactIntent)
		werr := protojson.Unmarshal(data, want)
		if got, ok := decodeIntentJSON(data); ok {
			if werr != nil {
				t.Fatalf("fast path accepted %q, protojson rejects it: %v", data, werr)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("%q: fast path %v, protojson %v", data, got, want)
			}
		}
		got, err := DecodeIntent(data, h)
		if (err == nil) != (werr == nil) || err == nil && !proto.Equal(got, want) {
			t.Fatalf("%q: DecodeIntent %v, %v; protojson %v, %v", data, got, err, want, werr)
		}
	})
}

func TestFastPathTakesTheUsualIntents(t *testing.T) {
	for _, s := range intentJSONSeeds()[:3] {
		if _, ok := decodeIntentJSON([]byte(s)); !ok {
			t.Errorf("fast path declined %s", s)
		}
	}
}
