package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Channels are the channels Hush knows.
var Channels = []string{"email", "sms", "push", "voice", "whatsapp", "in_app"}

// ErrInvalid marks an intent that can never be decided: it is dead-lettered,
// not retried.
var ErrInvalid = errors.New("invalid intent")

// maxIDLen bounds ids so that Redis keys stay small.
const maxIDLen = 128

// Validate checks an intent against the wire contract and this policy.
// subjectChannel is the channel token of the subject it arrived on. Errors
// wrap ErrInvalid and name the field at fault.
func (p *Policy) Validate(it *hushv1.ContactIntent, subjectChannel string) error {
	if err := checkID("id", it.GetId()); err != nil {
		return err
	}
	if err := checkID("customer_id", it.GetCustomerId()); err != nil {
		return err
	}
	if !IsChannel(it.GetChannel()) {
		return invalid("channel", "unknown channel %q (want one of email, sms, push, voice, whatsapp, in_app)", it.GetChannel())
	}
	if subjectChannel != it.GetChannel() {
		return invalid("channel", "%q does not match the subject's channel %q", it.GetChannel(), subjectChannel)
	}
	if _, ok := p.categories[it.GetCategory()]; !ok {
		return invalid("category", "unknown category %q", it.GetCategory())
	}
	switch it.GetInitiator() {
	case "", "system", "agent":
	default:
		return invalid("initiator", "want system or agent, got %q", it.GetInitiator())
	}
	if it.GetInitiator() == "agent" && it.GetSender().GetAgentId() == "" {
		return invalid("sender.agent_id", "required when initiator is agent")
	}
	for _, f := range []struct{ name, v string }{
		{"topic", it.GetTopic()},
		{"sender.service", it.GetSender().GetService()},
		{"sender.agent_id", it.GetSender().GetAgentId()},
		{"in_reply_to", it.GetInReplyTo()},
	} {
		if f.v != "" {
			if err := checkID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if it.GetSender().GetService() == "" {
		return invalid("sender.service", "required: the service that wants to send")
	}
	if pu := it.GetPurpose(); len(pu) > maxPurposeLen || !utf8.ValidString(pu) {
		return invalid("purpose", "want valid UTF-8 of at most %d bytes", maxPurposeLen)
	}
	return validPriority(it)
}

// maxPurposeLen bounds the purpose an agent gives, which is kept on records.
const maxPurposeLen = 512

// ValidateInbound checks a customer's inbound contact. subjectChannel is the
// channel token of the subject it arrived on. Errors wrap ErrInvalid.
func ValidateInbound(in *hushv1.InboundContact, subjectChannel string) error {
	if err := checkID("customer_id", in.GetCustomerId()); err != nil {
		return err
	}
	if !IsChannel(in.GetChannel()) {
		return invalid("channel", "unknown channel %q (want one of email, sms, push, voice, whatsapp, in_app)", in.GetChannel())
	}
	if subjectChannel != in.GetChannel() {
		return invalid("channel", "%q does not match the subject's channel %q", in.GetChannel(), subjectChannel)
	}
	return checkID("thread_id", in.GetThreadId())
}

// IsChannel reports whether s is a channel Hush knows.
func IsChannel(s string) bool {
	for _, c := range Channels {
		if c == s {
			return true
		}
	}
	return false
}

func checkID(field, v string) error {
	switch {
	case v == "":
		return invalid(field, "required")
	case len(v) > maxIDLen:
		return invalid(field, "longer than %d bytes", maxIDLen)
	case !utf8.ValidString(v):
		return invalid(field, "not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '{' || r == '}' {
			return invalid(field, "contains %q (spaces, control characters and braces are not allowed)", r)
		}
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// HashDestination is how destinations are compared and logged: the hex
// SHA-256 of the trimmed, lower-cased address; "" for no destination.
func HashDestination(dest string) string {
	dest = strings.ToLower(strings.TrimSpace(dest))
	if dest == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(dest))
	return hex.EncodeToString(sum[:])
}
