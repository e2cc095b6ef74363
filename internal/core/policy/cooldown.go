package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// EventKinds are the kinds of inbound contact (InboundContact.kind); every
// kind but "message" can start a cooldown.
var EventKinds = []string{"message", "conversation", "refusal", "stop_keyword"}

// packCooldown closes contact for a scope after an inbound event of a kind,
// for calendar days counted from the event's day (day 1) in the customer's
// zone, or for a rolling window from the event.
type packCooldown struct {
	after  string
	scope  string // customer, subject, channel, service
	days   int
	window time.Duration
}

func (c *packCooldown) span() string {
	if c.days > 0 {
		return fmt.Sprintf("%d calendar days (the event's day is day 1)", c.days)
	}
	return HumanWindow(c.window)
}

// Event fields of an event record in the store, the order the store keeps
// them in: kind, channel, subject, service, thread. A cooldown's Field is
// the one its scope compares (EventAny for the whole customer).
const (
	EventAny     = 0
	EventChannel = 2
	EventSubject = 3
	EventService = 4
)

// CooldownCheck is a cooldown the store checks, atomically with the
// decision, against the customer's recorded inbound events: any event of
// Kind at or after Since whose Field equals Value (an event of the whole
// company, service "", matches any service) says no.
type CooldownCheck struct {
	Rule   string
	Kind   string
	Field  int
	Value  string
	Since  time.Time
	Days   int
	Window time.Duration
	Shadow bool
	// Pack, PackVersion and Section name the pack rule.
	Pack, PackVersion, Section string
}

// cooldownCheck is the rule's cooldown for the intent. Counting calendar
// days from the event's day: an event on local day E closes days E to
// E+days-1; so today is closed when E >= today-(days-1), i.e. the event
// came at or after local midnight of that day (the earliest such midnight
// over the candidate zones). A cooldown per subject, for an intent that
// names no subject, is closed by an event about any subject: fail closed.
func (r *PackRule) cooldownCheck(pk *Pack, s subject, zones []*time.Location) CooldownCheck {
	c := CooldownCheck{Rule: r.ID, Kind: r.cool.after, Days: r.cool.days, Window: r.cool.window, Shadow: pk.Mode == Shadow,
		Pack: pk.Name, PackVersion: pk.Version, Section: r.Section}
	switch r.cool.scope {
	case "subject":
		if v := s.it.GetSubjectRef(); v != "" {
			c.Field, c.Value = EventSubject, v
		}
	case "channel":
		c.Field, c.Value = EventChannel, s.it.GetChannel()
	case "service":
		c.Field, c.Value = EventService, s.it.GetSender().GetService()
	}
	if r.cool.days > 0 {
		c.Since = daysSince(s.now, r.cool.days, zones)
	} else {
		c.Since = s.now.Add(-r.cool.window)
	}
	return c
}

// CooldownMessage is the sentence for a cooldown that said no.
func CooldownMessage(kind string, field int, value string, event time.Time, days int, window time.Duration) string {
	what := "contacts"
	switch field {
	case EventSubject:
		what = fmt.Sprintf("contacts about %q", value)
	case EventChannel:
		what = value + " contacts"
	case EventService:
		what = "contacts from " + value
	}
	if days > 0 {
		return fmt.Sprintf("a %s at %s closes %s for %d calendar days counted from that day (day 1) in the customer's time zone",
			kind, Stamp(event), what, days)
	}
	return fmt.Sprintf("a %s at %s closes %s until %s", kind, Stamp(event), what, Stamp(event.Add(window)))
}

// Cooldown code, for the store.
const CooldownCode = hushv1.ReasonCode_REASON_CODE_COOLDOWN

func joinSorted(errs []error) error {
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(a.(*Error).Line, b.(*Error).Line) })
	return errors.Join(errs...)
}

// validateEvent checks what an inbound contact says about itself for the
// cooldowns: a known kind, and ids that fit in a store record.
func validateEvent(in *hushv1.InboundContact) error {
	if k := in.GetKind(); k != "" && !slices.Contains(EventKinds, k) {
		return invalid("kind", "unknown kind %q (want one of message, conversation, refusal, stop_keyword)", k)
	}
	for _, f := range []struct{ name, v string }{{"subject_ref", in.GetSubjectRef()}, {"service", in.GetService()}} {
		if f.v != "" {
			if err := checkID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	return nil
}
