package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/us"
)

// holidaySets are the public holidays a calendar can close, by the name a
// pack uses, from the maintained library github.com/rickar/cal/v2: "US" is
// the eleven federal holidays (5 U.S.C. 6103), "FR" the eleven jours fériés
// of the Code du travail (art. L3133-1). A holiday closes both its own date
// and, when it differs, the date it is observed on: stricter, never looser.
var holidaySets = map[string][]*cal.Holiday{
	"US": us.Holidays,
	"FR": fr.Holidays,
}

// HolidaySets lists the holiday sets a pack may name, sorted.
func HolidaySets() []string {
	out := make([]string, 0, len(holidaySets))
	for k := range holidaySets {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// holiday returns the name of the holiday of the set on a local date, "" for
// none.
func holiday(set string, y int, m time.Month, d int) string {
	for _, h := range holidaySets[set] {
		act, obs := h.Calc(y)
		for _, t := range []time.Time{act, obs} {
			if !t.IsZero() && t.Year() == y && t.Month() == m && t.Day() == d {
				return h.Name
			}
		}
	}
	return ""
}

// calendar is when a region allows contact: the hours of each weekday and
// the days closed (some weekdays, public holidays), in the customer's local
// time.
type calendar struct {
	// limited: only hours lists the allowed hours; a weekday without an
	// entry allows none.
	limited  bool
	hours    [7][]window // by time.Weekday, sorted, never wrapping midnight
	closed   [7]bool
	holidays string
}

// check reports whether local time lt is allowed; when not, closedDay tells
// a closed day from hours outside the allowed ones, and why says which.
func (c *calendar) check(lt time.Time) (closedDay bool, why string, ok bool) {
	wd := lt.Weekday()
	if c.closed[wd] {
		return true, "no contact on " + wd.String() + "s", false
	}
	if c.holidays != "" {
		y, m, d := lt.Date()
		if h := holiday(c.holidays, y, m, d); h != "" {
			return true, "no contact on public holidays (" + h + ")", false
		}
	}
	if !c.limited {
		return false, "", true
	}
	mins := lt.Hour()*60 + lt.Minute()
	for _, w := range c.hours[wd] {
		if w.contains(mins) {
			return false, "", true
		}
	}
	return false, "contact allowed on " + wd.String() + "s only " + c.hoursOn(wd), false
}

// hoursOn prints the allowed hours of a weekday ("10:00-13:00, 14:00-20:00").
func (c *calendar) hoursOn(wd time.Weekday) string {
	if len(c.hours[wd]) == 0 {
		return "never"
	}
	s := make([]string, len(c.hours[wd]))
	for i, w := range c.hours[wd] {
		s[i] = w.String()
	}
	return strings.Join(s, ", ")
}

// calendarHorizon bounds the search for an allowed instant: a calendar (or
// zones) that allows nothing within it suppresses.
const calendarHorizon = 14 * 24 * time.Hour

// nextIn returns the earliest instant at or after t allowed in loc.
func (c *calendar) nextIn(t time.Time, loc *time.Location) (time.Time, bool) {
	limit := t.Add(calendarHorizon)
next:
	for t.Before(limit) {
		lt := t.In(loc)
		y, m, d := lt.Date()
		midnight := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		if closedDay, _, ok := c.check(lt); ok {
			return t, true
		} else if !closedDay {
			mins := lt.Hour()*60 + lt.Minute()
			for _, w := range c.hours[lt.Weekday()] {
				if mins < w.start {
					if s := time.Date(y, m, d, w.start/60, w.start%60, 0, 0, loc); s.After(t) {
						t = s
						continue next
					}
				}
			}
		}
		t = midnight
	}
	return time.Time{}, false
}

// allowedEverywhere returns the earliest instant at or after now that every
// zone allows; ok is false when there is none within calendarHorizon.
func (c *calendar) allowedEverywhere(now time.Time, zones []*time.Location) (time.Time, bool) {
	until := now
	for until.Sub(now) <= calendarHorizon {
		moved := false
		for _, loc := range zones {
			n, ok := c.nextIn(until, loc)
			if !ok {
				return time.Time{}, false
			}
			if n.After(until) {
				until, moved = n, true
			}
		}
		if !moved {
			return until, true
		}
	}
	return time.Time{}, false
}

// weekdayKeys are the keys of a calendar's hours: a day, or a group.
var weekdayKeys = map[string][]time.Weekday{
	"mon": {time.Monday}, "tue": {time.Tuesday}, "wed": {time.Wednesday}, "thu": {time.Thursday},
	"fri": {time.Friday}, "sat": {time.Saturday}, "sun": {time.Sunday},
	"weekdays":  {time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
	"weekend":   {time.Saturday, time.Sunday},
	"every_day": {time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday},
}

// allowedWindow parses an allowed span "HH:MM-HH:MM" within one day.
func allowedWindow(s string) (window, error) {
	w, err := parseWindow(s)
	if err != nil {
		return w, err
	}
	if w.start > w.end {
		return w, fmt.Errorf("%q wraps past midnight; allowed hours are within one day (write two days' hours instead)", s)
	}
	return w, nil
}

// describe says when the calendar allows contact, runs of weekdays with the
// same hours together: "Mon-Fri 10:00-13:00, 14:00-20:00; closed Sat, Sun
// and FR public holidays".
func (c *calendar) describe() string {
	week := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	var parts, closed []string
	for i := 0; i < len(week); {
		wd := week[i]
		if c.closed[wd] {
			closed = append(closed, wd.String()[:3])
			i++
			continue
		}
		j := i
		for j+1 < len(week) && !c.closed[week[j+1]] && c.hoursOn(week[j+1]) == c.hoursOn(wd) {
			j++
		}
		if c.limited {
			days := wd.String()[:3]
			switch {
			case i == 0 && j == len(week)-1:
				days = "every day"
			case j > i:
				days += "-" + week[j].String()[:3]
			}
			parts = append(parts, days+" "+c.hoursOn(wd))
		}
		i = j + 1
	}
	if c.holidays != "" {
		closed = append(closed, c.holidays+" public holidays")
	}
	if len(closed) > 0 {
		parts = append(parts, "closed "+strings.Join(closed, ", "))
	}
	return strings.Join(parts, "; ")
}
