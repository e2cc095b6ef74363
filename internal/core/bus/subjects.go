// Package bus holds what Hush's services agree on about NATS: subject names,
// stream definitions, message encodings and trace-context headers.
package bus

import (
	"strings"
)

// DefaultPrefix is the first token of every Hush subject.
const DefaultPrefix = "hush"

// Subjects builds subject and stream names under one prefix.
type Subjects struct {
	Prefix string
}

// NewSubjects returns subjects under prefix, or DefaultPrefix when empty.
func NewSubjects(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Subjects{Prefix: prefix}
}

// Intent is where a producer publishes its intents for a channel:
// "hush.intent.<producer>.<channel>". The producer token is the sender's
// identity: NATS lets each producer's credential publish only under its own
// name (deploy/nats/accounts.conf), and the gatekeeper takes the sender from
// the subject, not from the body.
func (s Subjects) Intent(producer, channel string) string {
	return s.Prefix + ".intent." + Token(producer) + "." + channel
}

// IntentSource splits an intent subject into the producer that published it
// and the channel. A subject with no producer token ("hush.intent.email")
// gives producer "" and its channel; a subject that is no intent subject
// gives ok false.
func (s Subjects) IntentSource(subject string) (producer, channel string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.Prefix+".intent.")
	if !ok || rest == "" {
		return "", "", false
	}
	producer, channel, found := strings.Cut(rest, ".")
	switch {
	case !found:
		return "", producer, true
	case producer == "" || channel == "" || strings.Contains(channel, "."):
		return "", "", false
	}
	return producer, channel, true
}

// Inbound is where a customer's own contacts on a channel are published, by
// that channel's inbound service only.
func (s Subjects) Inbound(channel string) string { return s.Prefix + ".inbound." + channel }

// Dispatch is where approved intents go for a channel's senders.
func (s Subjects) Dispatch(channel string) string { return s.Prefix + ".dispatch." + channel }

// Suppressed is where the suppression log for a channel is written.
func (s Subjects) Suppressed(channel string) string { return s.Prefix + ".suppressed." + channel }

// DeadLetter is where undecidable input goes.
func (s Subjects) DeadLetter() string { return s.Prefix + ".deadletter" }

// Deferred is the subject of the message schedule holding a deferred
// intent: one per intent, so that a deferral can be listed per customer and
// cancelled by purging its subject.
func (s Subjects) Deferred(customer, intentID string) string {
	return s.Prefix + ".deferred." + Token(customer) + "." + Token(intentID)
}

// DeferredOf is the wildcard of a customer's deferrals.
func (s Subjects) DeferredOf(customer string) string {
	return s.Prefix + ".deferred." + Token(customer) + ".*"
}

// Released is where a deferred intent for a channel is released to be
// decided again.
func (s Subjects) Released(channel string) string { return s.Prefix + ".released." + channel }

// IsReleased reports whether a subject is a released deferral's.
func (s Subjects) IsReleased(subject string) bool {
	return strings.HasPrefix(subject, s.Prefix+".released.")
}

// MaxDeliveriesAdvisories are the subjects of the JetStream advisories
// telling that a gatekeeper consumer gave up on a message.
func (s Subjects) MaxDeliveriesAdvisories() []string {
	return []string{
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + s.Stream(StreamIntents) + ".*",
		"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + s.Stream(StreamDeferred) + ".*",
	}
}

// Token makes any string a single subject token, reversibly: letters,
// digits, '-' and '_' are kept, every other byte becomes '%' and two hex
// digits (so '.', '*', '>' and spaces never reach a subject).
func Token(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	if b.Len() == 0 {
		return "%"
	}
	return b.String()
}

// PrefsChanged is the consent history.
func (s Subjects) PrefsChanged() string { return s.Prefix + ".prefs.changed" }

// All returns the wildcard for every subject of kind ("intent", "dispatch",
// ...): "hush.intent.>".
func (s Subjects) All(kind string) string { return s.Prefix + "." + kind + ".>" }

// Channel returns the channel token of a Hush subject ("hush.intent.email"
// gives "email"), or "" when the subject has no channel token.
func (s Subjects) Channel(subject string) string {
	rest, ok := strings.CutPrefix(subject, s.Prefix+".")
	if !ok {
		return ""
	}
	_, ch, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ch, ".") {
		return ""
	}
	return ch
}

// Stream returns the stream name for a kind: prefix "hush" and kind
// "intents" give "HUSH_INTENTS".
func (s Subjects) Stream(kind string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(s.Prefix) + "_" + kind)
}
