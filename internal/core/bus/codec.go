package bus

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Header names Hush reads or writes.
const (
	HeaderContentType = "Content-Type"
	HeaderMsgID       = nats.MsgIdHdr // "Nats-Msg-Id"
	// HeaderPolicyVersion names the policy that approved a dispatch.
	HeaderPolicyVersion = "Hush-Policy-Version"
	// HeaderOutcome is set on dispatch and suppression messages.
	HeaderOutcome = "Hush-Outcome"
)

// Content types. Binary protobuf is the default when none is given.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/protobuf"
)

// ErrDecode marks a message that cannot be decoded: it is dead-lettered,
// never retried.
var ErrDecode = errors.New("undecodable message")

var jsonIn = protojson.UnmarshalOptions{}

// JSONOut renders messages the way Hush documents them (camelCase field
// names, enum names), for tools and logs.
var JSONOut = protojson.MarshalOptions{}

// Header returns the first value of a header, matching the name without
// regard to case, since producers in other languages may lower-case it.
func Header(h nats.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// IsJSON reports whether headers declare a JSON body.
func IsJSON(h nats.Header) bool {
	ct := Header(h, HeaderContentType)
	if ct == "" {
		return false
	}
	if ct == ContentTypeJSON {
		return true // the common case, without parsing
	}
	if ct == ContentTypeProtobuf {
		return false // the other common case (NewMsg's), likewise
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == ContentTypeJSON
}

// Decode reads a message body into m: protojson when the headers say
// application/json, binary protobuf otherwise. Errors wrap ErrDecode.
func Decode(data []byte, h nats.Header, m proto.Message) error {
	var err error
	if IsJSON(h) {
		err = jsonIn.Unmarshal(data, m)
	} else {
		err = proto.Unmarshal(data, m)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDecode, err)
	}
	return nil
}

// DecodeIntent decodes a contact intent.
func DecodeIntent(data []byte, h nats.Header) (*hushv1.ContactIntent, error) {
	if IsJSON(h) {
		if it, ok := decodeIntentJSON(data); ok {
			return it, nil
		}
	}
	it := new(hushv1.ContactIntent)
	if err := Decode(data, h, it); err != nil {
		return nil, err
	}
	return it, nil
}

// NewMsg returns a message carrying m in binary protobuf with the given
// Nats-Msg-Id (none when empty).
func NewMsg(subject, msgID string, m proto.Message) (*nats.Msg, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(HeaderContentType, ContentTypeProtobuf)
	if msgID != "" {
		msg.Header.Set(HeaderMsgID, msgID)
	}
	return msg, nil
}
