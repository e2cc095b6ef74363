package policy

import (
	"fmt"
	"strings"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// window is a daily span of local time in minutes of the day, [start, end);
// start > end wraps past midnight (21:00-08:00).
type window struct{ start, end int }

func (w window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.start/60, w.start%60, w.end/60, w.end%60)
}

// contains reports whether minute of the day m lies in the window.
func (w window) contains(m int) bool {
	if w.start < w.end {
		return m >= w.start && m < w.end
	}
	return m >= w.start || m < w.end
}

// overlaps reports whether two windows share a minute.
func (w window) overlaps(o window) bool {
	for _, m := range []int{o.start, w.start} {
		if w.contains(m) && o.contains(m) {
			return true
		}
	}
	return false
}

// quietRule is the quiet hours of one region (or the default).
type quietRule struct {
	windows []window
	action  Action
}

type quietHours struct {
	classes  classSet
	rule     quietRule
	regions  map[string]*quietRule
	customer bool
	// strict checks a zone the customer set together with every zone of
	// their phone number, instead of letting it decide alone.
	strict bool
}

// ruleFor returns the rule of a region ("US-FL"), falling back to its
// country ("US"), then to the default.
func (q *quietHours) ruleFor(region string) *quietRule {
	if region != "" && len(q.regions) > 0 {
		if r, ok := q.regions[region]; ok {
			return r
		}
		if country, _, ok := strings.Cut(region, "-"); ok {
			if r, ok := q.regions[country]; ok {
				return r
			}
		}
	}
	return &q.rule
}

// parseClock reads "HH:MM" as minutes of the day.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	d := func(b byte) (int, bool) { return int(b - '0'), b >= '0' && b <= '9' }
	h1, ok1 := d(s[0])
	h2, ok2 := d(s[1])
	m1, ok3 := d(s[3])
	m2, ok4 := d(s[4])
	h, m := h1*10+h2, m1*10+m2
	if !ok1 || !ok2 || !ok3 || !ok4 || h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// parseWindow reads "HH:MM-HH:MM".
func parseWindow(s string) (window, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return window{}, fmt.Errorf("want HH:MM-HH:MM, got %q", s)
	}
	start, ok1 := parseClock(strings.TrimSpace(a))
	end, ok2 := parseClock(strings.TrimSpace(b))
	if !ok1 || !ok2 {
		return window{}, fmt.Errorf("want HH:MM-HH:MM with hours 00-23 and minutes 00-59, got %q", s)
	}
	if start == end {
		return window{}, fmt.Errorf("%q is empty (start equals end); to disable quiet hours leave the list empty", s)
	}
	return window{start, end}, nil
}

// customerWindow is the customer's own quiet hours, when valid.
func customerWindow(q *hushv1.QuietHours) (window, bool) {
	if q == nil {
		return window{}, false
	}
	s, ok1 := parseClock(q.GetStart())
	e, ok2 := parseClock(q.GetEnd())
	if !ok1 || !ok2 || s == e {
		return window{}, false
	}
	return window{s, e}, true
}

// Why quiet hours suppress when no deferral can be given.
const (
	whyUnknownZone  = "the customer's time zone is unknown (no valid time zone, region or phone number) and the policy suppresses such contacts"
	whyNoCommonTime = "no time in the next 7 days is outside quiet hours in every time zone the customer may be in"
)

// quietIn reports whether quiet hours hold at now in any zone the customer
// may be in, until when, and the action. A zone the customer set decides
// alone (with the zones of their phone number too under strict_zones);
// without one, the candidates are the zones of their region and of their
// phone number; with none of those, the policy's unknown_zone action
// applies. A contact is allowed only when every candidate zone allows it,
// and deferred to the earliest instant they all allow. why is set when
// quiet hours suppress with no end to give: the zone is unknown and the
// policy suppresses, or the candidate zones share no allowed time.
func (p *Policy) quietIn(it *hushv1.ContactIntent, prefs *hushv1.Preferences, now time.Time) (until time.Time, action Action, why string, quiet bool) {
	own, hasOwn := customerWindow(prefs.GetQuietHours())
	hasOwn = hasOwn && p.quiet.customer
	region := prefs.GetRegion()
	rule := p.quiet.ruleFor(region)
	loc := p.location(prefs.GetTimeZone())
	if loc != nil && !p.quiet.strict {
		// The common case, kept free of allocations.
		until, quiet = quietUntil(now, loc, rule, own, hasOwn)
		return until, rule.action, "", quiet
	}

	var buf [maxStackCandidates]candidate
	cs := buf[:0]
	if loc != nil {
		cs = append(cs, candidate{loc, rule})
	} else {
		cs = p.addRegion(cs, region, rule)
	}
	cs = p.addNumber(cs, it, region, rule)
	if len(cs) == 0 {
		if p.unknownZone == Suppress {
			return time.Time{}, Suppress, whyUnknownZone, true
		}
		if region == "" {
			rule = p.quiet.ruleFor(p.fallbackRegion)
		}
		if p.fallbackRegion != "" {
			cs = p.addRegion(cs, p.fallbackRegion, rule)
		} else {
			cs = append(cs, candidate{p.FallbackZone, rule})
		}
	}
	until, action, quiet, ok := allowedInAll(now, cs, own, hasOwn)
	if !ok {
		return time.Time{}, Suppress, whyNoCommonTime, true
	}
	return until, action, "", quiet
}

// quietUntil returns when the quiet hours that hold now end, in loc; ok is
// false when now is not quiet. Windows may chain (the customer's 20:00-22:00
// and the policy's 21:00-08:00), so it follows them until none holds.
func quietUntil(now time.Time, loc *time.Location, rule *quietRule, own window, hasOwn bool) (time.Time, bool) {
	t := now
	for range 2*len(rule.windows) + 3 {
		moved := false
		for _, w := range rule.windows {
			if end, in := windowEnd(t, loc, w); in {
				t, moved = end, true
			}
		}
		if hasOwn {
			if end, in := windowEnd(t, loc, own); in {
				t, moved = end, true
			}
		}
		if !moved {
			break
		}
	}
	return t, t.After(now)
}

// windowEnd reports whether t lies in w (in local time at loc) and, if so,
// when that occurrence of w ends. Ends are computed on the local calendar,
// so they are right on days when the clocks change.
func windowEnd(t time.Time, loc *time.Location, w window) (time.Time, bool) {
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	if !w.contains(m) {
		return time.Time{}, false
	}
	y, mo, d := lt.Date()
	if w.start > w.end && m >= w.start {
		d++ // the window ends tomorrow
	}
	end := time.Date(y, mo, d, w.end/60, w.end%60, 0, 0, loc)
	if !end.After(t) {
		// The end fell in a clock change's gap and was normalised to
		// before t; the window is over once the clocks have jumped.
		end = t.Truncate(time.Minute).Add(time.Minute)
	}
	return end, true
}
