package client

import (
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ErrInvalid: the intent breaks the contract (a field is missing or wrong;
// the message names it). Fix the producer; retrying is useless. The
// gatekeeper dead-letters such an intent with the same message.
var ErrInvalid = errors.New("invalid intent")

// Channels are the channels Hush knows; an intent on any other is refused.
var Channels = []string{"email", "sms", "push", "voice", "whatsapp", "in_app"}

// DefaultCategories are the categories of the default policy shipped in
// deploy/policy (a test keeps them in step). The SDK does not read the
// policy: the gatekeeper is the authority on categories, and this list only
// makes a typo fail at its source.
var DefaultCategories = []string{"critical", "marketing", "service", "support", "survey", "transactional"}

// maxIDLen bounds ids so that Redis keys stay small; maxPurposeLen bounds
// the purpose an agent gives, which is kept on records.
const (
	maxIDLen      = 128
	maxPurposeLen = 512
)

// validate checks an intent against the wire contract, in the order and
// with the messages of the gatekeeper's own check.
func validate(it *hushv1.ContactIntent, categories []string) error {
	if err := checkID("id", it.GetId()); err != nil {
		return err
	}
	if err := checkID("customer_id", it.GetCustomerId()); err != nil {
		return err
	}
	if !isChannel(it.GetChannel()) {
		return invalid("channel", "unknown channel %q (want one of email, sms, push, voice, whatsapp, in_app)", it.GetChannel())
	}
	if !validName(it.GetCategory()) || !slices.Contains(categories, it.GetCategory()) {
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
	switch it.GetPriority() {
	case "", "low", "normal", "high", "urgent":
	default:
		return invalid("priority", "want low, normal, high or urgent, got %q", it.GetPriority())
	}
	return nil
}

func isChannel(s string) bool { return slices.Contains(Channels, s) }

// validName is the syntax of a category name in a policy.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
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
