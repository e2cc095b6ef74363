package prefsapi

import (
	"fmt"
	"regexp"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// fieldError is a 400 that names the field at fault.
type fieldError struct {
	Field, Msg string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Msg }

func badField(field, format string, args ...any) *fieldError {
	return &fieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var (
	hhmm       = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	sha256Hex  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	regionCode = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`)
	topicName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
)

// ValidatePreferences checks preferences a customer or operator sent;
// categories are checked against the policy in force. The error names the
// field at fault ("quiet_hours.start: want HH:MM ...").
func ValidatePreferences(p *hushv1.Preferences, pol *policy.Policy) error {
	if _, ok := hushv1.Mode_name[int32(p.GetMode())]; !ok {
		return badField("mode", "unknown mode %d (want normal, essential_only or do_nothing)", p.GetMode())
	}
	if u := p.GetModeUntil(); u != nil {
		if err := u.CheckValid(); err != nil {
			return badField("mode_until", "%v", err)
		}
		if p.GetMode() == hushv1.Mode_MODE_NORMAL {
			return badField("mode_until", "only with mode essential_only or do_nothing")
		}
	}
	for i, c := range p.GetOptedOutChannels() {
		if !policy.IsChannel(c) {
			return badField(fmt.Sprintf("opted_out_channels[%d]", i), "unknown channel %q (want one of email, sms, push, voice, whatsapp, in_app)", c)
		}
	}
	for i, c := range p.GetOptedOutCategories() {
		if _, ok := pol.ClassOf(c); !ok {
			return badField(fmt.Sprintf("opted_out_categories[%d]", i), "unknown category %q", c)
		}
	}
	for i, t := range p.GetOptedOutTopics() {
		if !topicName.MatchString(t) {
			return badField(fmt.Sprintf("opted_out_topics[%d]", i), "want 1-128 letters, digits and . _ : / -, got %q", t)
		}
	}
	if tz := p.GetTimeZone(); tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
			return badField("time_zone", "unknown IANA time zone %q", tz)
		}
	}
	if err := validateDigest(p, pol); err != nil { // digest.go
		return err
	}
	if q := p.GetQuietHours(); q != nil {
		if !hhmm.MatchString(q.GetStart()) {
			return badField("quiet_hours.start", "want HH:MM (00:00-23:59), got %q", q.GetStart())
		}
		if !hhmm.MatchString(q.GetEnd()) {
			return badField("quiet_hours.end", "want HH:MM (00:00-23:59), got %q", q.GetEnd())
		}
		if q.GetStart() == q.GetEnd() {
			return badField("quiet_hours.end", "equals start; leave quiet_hours out for none")
		}
	}
	if f := p.GetMaxFrequency(); f != nil {
		if f.GetCount() == 0 {
			return badField("max_frequency.count", "must be at least 1")
		}
		// The contact ledger keeps MaxCustomerWindow of contacts: a longer
		// window could not be honoured, so it is refused, not shortened.
		if err := f.GetWindow().CheckValid(); err != nil || f.GetWindow().AsDuration() < time.Minute || f.GetWindow().AsDuration() > policy.MaxCustomerWindow {
			return badField("max_frequency.window", "want between 1m and %s (the contact ledger keeps %s)",
				policy.FormatWindow(policy.MaxCustomerWindow), policy.HumanWindow(policy.MaxCustomerWindow))
		}
	}
	for i, h := range p.GetSuppressedDestinations() {
		if !sha256Hex.MatchString(h) {
			return badField(fmt.Sprintf("suppressed_destinations[%d]", i), "want a lowercase hex SHA-256 (64 characters), never the address itself")
		}
	}
	if r := p.GetRegion(); r != "" && !regionCode.MatchString(r) {
		return badField("region", "want ISO 3166-1 alpha-2 with an optional subdivision (\"US-FL\"), got %q", r)
	}
	if err := validateConsents(p, pol); err != nil {
		return err
	}
	if h := p.GetCareHold(); h != nil {
		if u := h.GetUntil(); u != nil {
			if err := u.CheckValid(); err != nil {
				return badField("care_hold.until", "%v", err)
			}
		}
	}
	return nil
}
