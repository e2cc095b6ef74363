package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// RuleDigest folds an intent into the customer's pending digest for its
// channel instead of sending it alone: the policy's digest categories, and
// the categories the customer asked a daily summary of.
const RuleDigest = "digest"

// Digest is the quiet-hours action that folds what arrives in quiet hours
// into a digest released when they end ("batch on wake").
const Digest Action = "digest"

// Digest release triggers, as a Digest message names them.
const (
	TriggerSchedule = "schedule" // the customer's (or the policy's) time of day
	TriggerWake     = "wake"     // quiet hours ended
	TriggerCount    = "count"    // max_pending intents were pending
)

// Digest defaults.
const (
	defaultDigestAt      = 18 * 60
	defaultDigestPending = 50
	maxDigestPending     = 1000
)

// DigestFold is how a folded intent's digest is released: at the verdict's
// ReleaseAt (Trigger says why), or, once Max intents are pending, at
// WakeAt: the decision's time, or the end of the quiet hours it fell in.
type DigestFold struct {
	Trigger string
	Max     int
	WakeAt  time.Time
}

// digestConfig is the digest section of the policy.
type digestConfig struct {
	categories []string // sorted
	at         int      // minute of the day, local
	maxPending int
}

type rawDigest struct {
	Categories []string `yaml:"categories"`
	At         string   `yaml:"at"`
	MaxPending int      `yaml:"max_pending"`
}

func (s subject) digest() bool { return s.is&isDigest != 0 }

// digestible reports whether contacts of a class may wait for a digest:
// service and marketing ones. Critical and transactional contacts are
// never held back for a summary.
func digestible(c Class) bool { return c == ClassService || c == ClassMarketing }

// digest compiles the digest section. Without one, only customers' own
// digests fold, released at most 50 at a time.
func (c *compiler) digest(p *Policy, r *rawDigest) {
	p.digest = digestConfig{at: defaultDigestAt, maxPending: defaultDigestPending}
	if r == nil {
		return
	}
	for j, name := range r.Categories {
		class, ok := p.categories[name]
		switch {
		case !ok:
			c.fail(fmt.Sprintf("unknown category %q", name), "digest", "categories", j)
		case !digestible(class):
			c.fail(fmt.Sprintf("%s contacts are %s and never wait for a digest (only service and marketing ones do)", name, class), "digest", "categories", j)
		case slices.Contains(p.digest.categories, name):
			c.fail(fmt.Sprintf("category %q listed twice", name), "digest", "categories", j)
		default:
			p.digest.categories = append(p.digest.categories, name)
		}
	}
	sort.Strings(p.digest.categories)
	if r.At != "" {
		m, ok := parseClock(r.At)
		if !ok {
			c.fail(fmt.Sprintf("want HH:MM with hours 00-23 and minutes 00-59, got %q", r.At), "digest", "at")
		}
		p.digest.at = m
	}
	switch {
	case r.MaxPending == 0:
	case r.MaxPending < 1 || r.MaxPending > maxDigestPending:
		c.fail(fmt.Sprintf("want 1 to %d: how many intents a digest holds before it is released", maxDigestPending), "digest", "max_pending")
	default:
		p.digest.maxPending = r.MaxPending
	}
}

// quietAction is action, plus digest (quiet hours only).
func (c *compiler) quietAction(s string, def Action, path ...any) Action {
	if Action(s) == Digest {
		return Digest
	}
	switch Action(s) {
	case "", Defer, Suppress:
		return c.action(s, def, path...)
	}
	c.fail(fmt.Sprintf("want defer, suppress or digest, got %q", s), path...)
	return def
}

// DigestCategories are the categories a customer may ask a daily summary
// of (service and marketing ones), sorted.
func (p *Policy) DigestCategories() []string {
	var out []string
	for name, class := range p.categories {
		if digestible(class) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// DigestMaxPending is how many intents a digest holds before it is released.
func (p *Policy) DigestMaxPending() int { return p.digest.maxPending }

// ValidateDigest checks a customer's digest preference: a valid "HH:MM"
// and categories that may be folded.
func (p *Policy) ValidateDigest(d *hushv1.DigestPreference) error {
	if d == nil || len(d.GetCategories()) == 0 && d.GetAt() == "" {
		return nil
	}
	if _, ok := parseClock(d.GetAt()); !ok {
		return fmt.Errorf("digest.at: want HH:MM, got %q", d.GetAt())
	}
	if len(d.GetCategories()) == 0 {
		return fmt.Errorf("digest.categories: name at least one category")
	}
	for _, c := range d.GetCategories() {
		class, ok := p.categories[c]
		if !ok {
			return fmt.Errorf("digest.categories: unknown category %q", c)
		}
		if !digestible(class) {
			return fmt.Errorf("digest.categories: %s contacts are %s and are never folded into a digest", c, class)
		}
	}
	return nil
}

// digestRule folds an intent of a digest category (the policy's, or one
// the customer chose) into the customer's pending digest for its channel,
// released at the next digest time of day in the customer's zone, or at
// the end of the quiet hours that time falls in. It comes after the
// objections of the customer (opt-outs, care hold, modes), so that they
// still suppress, and before quiet hours and caps: a digest is counted
// once, when released. Replies and agents' contacts are never folded;
// nor is an intent whose deadline comes before the release.
func digestRule(p *Policy, s subject) (objection, bool) {
	if s.digest() || s.reply() || s.agent() || !digestible(s.class) {
		return objection{}, false
	}
	at, whose := -1, ""
	if slices.Contains(p.digest.categories, s.it.GetCategory()) {
		at, whose = p.digest.at, "the policy's"
	}
	if d := s.prefs.GetDigest(); d != nil && slices.Contains(d.GetCategories(), s.it.GetCategory()) {
		if m, ok := parseClock(d.GetAt()); ok {
			at, whose = m, "the customer's"
		}
	}
	if at < 0 {
		return objection{}, false
	}
	loc := p.location(s.prefs.GetTimeZone())
	if loc == nil {
		loc = p.FallbackZone
	}
	release := nextClock(s.now, loc, at)
	if until, _, why, quiet := p.quietIn(s.it, s.prefs, release); quiet && why == "" && p.quiet.classes.has(s.class) {
		release = until
	}
	if na := s.it.GetNotAfter(); na != nil && !release.Before(na.AsTime()) {
		return objection{}, false // it would be worthless by then: decided alone
	}
	wake := s.now
	if until, _, why, quiet := p.quietIn(s.it, s.prefs, s.now); quiet && why == "" && p.quiet.classes.has(s.class) {
		wake = until
	}
	return objection{code: hushv1.ReasonCode_REASON_CODE_FOLDED_INTO_DIGEST,
		message: fmt.Sprintf("%s is in %s daily digest (%02d:%02d local); folded into the %s digest released at %s",
			s.it.GetCategory(), whose, at/60, at%60, s.it.GetChannel(), Stamp(release)),
		until: release, fold: TriggerSchedule, wake: wake}, true
}

// wakeFold turns a quiet-hours deferral into a fold released when they end.
func wakeFold(o objection, until time.Time) objection {
	o.code = hushv1.ReasonCode_REASON_CODE_FOLDED_INTO_DIGEST
	o.message = "quiet hours in the customer's time zone; folded into the digest released when they end at " + Stamp(until)
	o.until, o.fold, o.wake = until, TriggerWake, until
	return o
}

// fold makes a verdict a fold (see decide).
func (p *Policy) fold(v *Verdict, o objection) {
	v.Outcome = hushv1.Outcome_OUTCOME_FOLDED
	v.Digest = DigestFold{Trigger: o.fold, Max: p.digest.maxPending, WakeAt: o.wake.UTC()}
}

// nextClock is the first instant after now at minute m of the day in loc.
func nextClock(now time.Time, loc *time.Location, m int) time.Time {
	lt := now.In(loc)
	y, mo, d := lt.Date()
	t := time.Date(y, mo, d, m/60, m%60, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(y, mo, d+1, m/60, m%60, 0, 0, loc)
	}
	return t.UTC()
}

// DigestIntent is the contact a released digest is decided as: on the
// digest's channel, in the category and from the sender of its first
// folded intent (so that the customer's current opt-outs and the caps
// apply to it), with the digest id as its id.
func DigestIntent(id, customer, channel string, folded []*hushv1.ContactIntent) *hushv1.ContactIntent {
	it := &hushv1.ContactIntent{Id: id, CustomerId: customer, Channel: channel, Initiator: "system"}
	if len(folded) > 0 {
		f := folded[0]
		it.Category, it.Destination, it.Sender = f.GetCategory(), f.GetDestination(), f.GetSender()
	}
	return it
}

// DigestMessage is the sentence explaining a released digest's decision.
func DigestMessage(n int, trigger string) string {
	why := map[string]string{TriggerSchedule: "its time of day came", TriggerWake: "quiet hours ended", TriggerCount: "it was full"}[trigger]
	if why == "" {
		why = trigger
	}
	return fmt.Sprintf("digest of %d folded intent%s released because %s", n, strings.Repeat("s", min(n-1, 1)), why)
}
