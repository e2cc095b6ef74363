package bus

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// decodeIntentJSON decodes a JSON intent of the shape producers send (an
// object of known fields holding plain strings, a sender object,
// timestamps and a base64 payload) several times faster than protojson, to
// the same message. Anything outside that shape, valid or not, it declines
// (ok false): an escape in a string, null, a field it does not know or
// meets twice, a number, malformed JSON. protojson then decodes it, or
// rejects it with its own error, so the result never depends on which path
// decoded an intent (FuzzIntentJSONMatchesProtojson holds it to that).
//
// Strings are sliced from one copy of the body: one allocation for all of
// them.
func decodeIntentJSON(data []byte) (it *hushv1.ContactIntent, ok bool) {
	p := jsonScan{s: string(data)}
	it = new(hushv1.ContactIntent)
	var seen uint32
	once := func(n int) bool {
		if seen&(1<<n) != 0 {
			return false // protojson rejects a field given twice
		}
		seen |= 1 << n
		return true
	}
	ok = p.object(func(name string) bool {
		var dst *string
		var good bool
		switch name {
		case "id":
			dst = fieldOnce(once(1), &it.Id)
		case "customerId", "customer_id":
			dst = fieldOnce(once(2), &it.CustomerId)
		case "channel":
			dst = fieldOnce(once(3), &it.Channel)
		case "category":
			dst = fieldOnce(once(4), &it.Category)
		case "topic":
			dst = fieldOnce(once(5), &it.Topic)
		case "sender":
			if !once(6) {
				return false
			}
			it.Sender = new(hushv1.Sender)
			return p.sender(it.Sender)
		case "initiator":
			dst = fieldOnce(once(7), &it.Initiator)
		case "purpose":
			dst = fieldOnce(once(8), &it.Purpose)
		case "inReplyTo", "in_reply_to":
			dst = fieldOnce(once(9), &it.InReplyTo)
		case "createdAt", "created_at":
			if !once(10) {
				return false
			}
			it.CreatedAt, good = p.timestamp()
			return good
		case "notAfter", "not_after":
			if !once(11) {
				return false
			}
			it.NotAfter, good = p.timestamp()
			return good
		case "destination":
			dst = fieldOnce(once(12), &it.Destination)
		case "payload":
			if !once(13) {
				return false
			}
			it.Payload, good = p.bytes()
			return good
		case "priority":
			dst = fieldOnce(once(14), &it.Priority)
		case "subjectRef", "subject_ref":
			dst = fieldOnce(once(15), &it.SubjectRef)
		}
		if dst == nil {
			return false
		}
		*dst, good = p.str()
		return good
	})
	p.ws()
	if !ok || p.i != len(p.s) {
		return nil, false
	}
	return it, true
}

func fieldOnce(first bool, dst *string) *string {
	if !first {
		return nil
	}
	return dst
}

// jsonScan reads the JSON subset decodeIntentJSON accepts.
type jsonScan struct {
	s string
	i int
}

func (p *jsonScan) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScan) byte(b byte) bool {
	if p.i < len(p.s) && p.s[p.i] == b {
		p.i++
		return true
	}
	return false
}

// object reads an object, calling field for each member with the scanner
// at its value.
func (p *jsonScan) object(field func(name string) bool) bool {
	p.ws()
	if !p.byte('{') {
		return false
	}
	p.ws()
	if p.byte('}') {
		return true
	}
	for {
		p.ws()
		name, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.byte(':') {
			return false
		}
		p.ws()
		if !field(name) {
			return false
		}
		p.ws()
		if p.byte(',') {
			continue
		}
		return p.byte('}')
	}
}

// str reads a string without escapes, of valid UTF-8.
func (p *jsonScan) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start, ascii := p.i, true
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, ascii || utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

func (p *jsonScan) sender(s *hushv1.Sender) bool {
	var seen uint8
	return p.object(func(name string) bool {
		var dst *string
		var bit uint8
		switch name {
		case "service":
			dst, bit = &s.Service, 1
		case "agentId", "agent_id":
			dst, bit = &s.AgentId, 2
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		var ok bool
		*dst, ok = p.str()
		return ok
	})
}

// Timestamps as protojson reads them: RFC 3339, in range, at most
// nanoseconds.
const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
)

func (p *jsonScan) timestamp() (*timestamppb.Timestamp, bool) {
	s, ok := p.str()
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, false
	}
	secs := t.Unix()
	if secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return nil, false
	}
	i := strings.LastIndexByte(s, '.')
	j := strings.LastIndexAny(s, "Z-+")
	if i >= 0 && j >= i && j-i > len(".999999999") {
		return nil, false
	}
	return &timestamppb.Timestamp{Seconds: secs, Nanos: int32(t.Nanosecond())}, true
}

// bytes reads base64 as protojson does: standard or URL alphabet, padded
// or not.
func (p *jsonScan) bytes() ([]byte, bool) {
	s, ok := p.str()
	if !ok {
		return nil, false
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}
