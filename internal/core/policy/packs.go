package policy

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	packfiles "github.com/hush-oss/hush/deploy/policy/packs"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// A regulation pack is the law as a versioned, tested policy file (under
// deploy/policy/packs): rules that each name the section of the law they
// implement. A policy composes packs with its own rules: every pack rule
// must allow a contact too (the strictest rule wins), each pack runs in
// enforce or shadow mode, and every reason a pack gives names the pack, its
// version and the section.

// Pack is a regulation pack as a policy uses it.
type Pack struct {
	Name, Version, Title string
	Sources              []string
	// NotCovered lists what the pack leaves to other rules or to people.
	NotCovered []string
	Rules      []PackRule
	// Mode is the policy's mode for the whole pack.
	Mode Mode
	// Categories are the policy's categories the pack applies to.
	Categories []string
	// UnknownRegion: rules limited to regions apply to a customer whose
	// region is unknown (fail closed) unless the policy says skip.
	UnknownRegion Action
	// Action is what hours and closed days do: defer to the next allowed
	// instant, or suppress.
	Action Action
}

// PackRule is one rule of a pack: a calendar (hours, closed days), a cap or
// a cooldown.
type PackRule struct {
	// ID is "<pack>.<rule>", the rule id on decisions.
	ID          string
	Section     string
	Summary     string
	Unconfirmed string
	// Channels the rule applies to (empty: every channel).
	Channels []string
	// Regions the rule applies to ("US-FL", or a country "US"); empty:
	// every region.
	Regions []string
	consent *consentExemption
	cal     *calendar
	cap     *packCap
	cool    *packCooldown
}

// Kind is "hours", "cap" or "cooldown".
func (r *PackRule) Kind() string {
	switch {
	case r.cap != nil:
		return "cap"
	case r.cool != nil:
		return "cooldown"
	}
	return "hours"
}

// Describe says in one line what the rule does, for hushctl policy packs.
func (r *PackRule) Describe() string {
	var b strings.Builder
	switch {
	case r.cap != nil:
		fmt.Fprintf(&b, "at most %d per %s per %s", r.cap.max, r.cap.scope, r.cap.span())
	case r.cool != nil:
		fmt.Fprintf(&b, "none for %s after a %s, per %s", r.cool.span(), r.cool.after, r.cool.scope)
	default:
		b.WriteString(r.cal.describe())
	}
	if len(r.Channels) > 0 {
		b.WriteString("; channels " + strings.Join(r.Channels, ","))
	}
	if len(r.Regions) > 0 {
		b.WriteString("; regions " + strings.Join(r.Regions, ","))
	}
	if r.consent != nil {
		b.WriteString("; not with recorded consent")
		if r.consent.within > 0 {
			b.WriteString(" given within " + FormatWindow(r.consent.within))
		}
	}
	return b.String()
}

// packCap counts contacts per scope, in calendar days in the customer's
// zone (days) or a rolling window.
type packCap struct {
	scope  Scope
	max    int
	days   int
	window time.Duration
}

func (c *packCap) span() string {
	if c.days > 0 {
		return fmt.Sprintf("%d calendar days", c.days)
	}
	return HumanWindow(c.window)
}

// consentExemption lifts a rule for a contact the customer consented to:
// a recorded grant (Preferences.consents) covering its category and channel,
// not withdrawn, given within the period (0: any time), for its subject
// when subject is set.
type consentExemption struct {
	within  time.Duration
	subject bool
}

// Packs returns the packs the policy composes, in file order.
func (p *Policy) Packs() []Pack { return p.packs }

// raw forms of a pack file.
type rawPack struct {
	Pack       string        `yaml:"pack"`
	Version    string        `yaml:"version"`
	Title      string        `yaml:"title"`
	Sources    []string      `yaml:"sources"`
	NotCovered []string      `yaml:"not_covered"`
	Rules      []rawPackRule `yaml:"rules"`
}

type rawPackRule struct {
	ID            string              `yaml:"id"`
	Section       string              `yaml:"section"`
	Summary       string              `yaml:"summary"`
	Unconfirmed   string              `yaml:"unconfirmed"`
	Channels      []string            `yaml:"channels"`
	Regions       []string            `yaml:"regions"`
	UnlessConsent *rawPackConsent     `yaml:"unless_consent"`
	Hours         map[string][]string `yaml:"hours"`
	Closed        *rawClosed          `yaml:"closed"`
	Cap           *rawPackCap         `yaml:"cap"`
	Cooldown      *rawPackCooldown    `yaml:"cooldown"`
}

type rawPackConsent struct {
	Within  string `yaml:"within"`
	Subject bool   `yaml:"subject"`
}

type rawClosed struct {
	Weekdays []string `yaml:"weekdays"`
	Holidays string   `yaml:"holidays"`
}

type rawPackCap struct {
	Scope  string `yaml:"scope"`
	Max    int    `yaml:"max"`
	Days   int    `yaml:"days"`
	Window string `yaml:"window"`
}

type rawPackCooldown struct {
	After  string `yaml:"after"`
	Scope  string `yaml:"scope"`
	Days   int    `yaml:"days"`
	Window string `yaml:"window"`
}

// rawPackUse is an entry of a policy's packs section.
type rawPackUse struct {
	Name          string   `yaml:"name"`
	Path          string   `yaml:"path"`
	Mode          string   `yaml:"mode"`
	Categories    []string `yaml:"categories"`
	UnknownRegion string   `yaml:"unknown_region"`
	Action        string   `yaml:"action"`
}

// EmbeddedPacks lists the names of the packs shipped with Hush.
func EmbeddedPacks() []string {
	names, _ := fs.Glob(packfiles.FS, "*.yaml")
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".yaml")
	}
	return names
}

// LoadPack reads and validates a pack by name (shipped) or path, with the
// policy mode enforce and no categories: what hushctl lists.
func LoadPack(nameOrPath string) (Pack, error) {
	name, data, err := readPack(rawPackUse{Name: nameOrPath}, "")
	if err != nil {
		name, data, err = readPack(rawPackUse{Path: nameOrPath}, "")
	}
	if err != nil {
		return Pack{}, err
	}
	return parsePack(name, data)
}

// ParsePack validates a pack document. name is used in error messages.
func ParsePack(name string, data []byte) (Pack, error) { return parsePack(name, data) }

func parsePack(name string, data []byte) (Pack, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Pack{}, yamlError(name, err)
	}
	var raw rawPack
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return Pack{}, yamlError(name, err)
	}
	c := compiler{name: name, root: &root}
	pk := c.pack(&raw)
	if len(c.errs) > 0 {
		return Pack{}, joinSorted(c.errs)
	}
	pk.Mode, pk.UnknownRegion, pk.Action = Enforce, Defer, Defer
	return pk, nil
}

func readPack(u rawPackUse, policyFile string) (string, []byte, error) {
	if u.Path != "" {
		path := u.Path
		if !filepath.IsAbs(path) && policyFile != "" {
			path = filepath.Join(filepath.Dir(policyFile), path)
		}
		data, err := os.ReadFile(path)
		return path, data, err
	}
	data, err := packfiles.FS.ReadFile(u.Name + ".yaml")
	return "deploy/policy/packs/" + u.Name + ".yaml", data, err
}

// packs compiles the policy's packs section: each pack is read, validated
// with errors at its own file's lines, and bound to the policy's categories.
func (c *compiler) packs(p *Policy, uses []rawPackUse) {
	seen := map[string]bool{}
	for i, u := range uses {
		switch {
		case (u.Name == "") == (u.Path == ""):
			c.fail("give either name (a shipped pack: "+strings.Join(EmbeddedPacks(), ", ")+") or path", "packs", i)
			continue
		case u.Name != "" && !slices.Contains(EmbeddedPacks(), u.Name):
			c.fail(fmt.Sprintf("no shipped pack %q (shipped: %s)", u.Name, strings.Join(EmbeddedPacks(), ", ")), "packs", i, "name")
			continue
		}
		file, data, err := readPack(u, c.name)
		if err != nil {
			c.fail(fmt.Sprintf("read pack: %v", err), "packs", i, "path")
			continue
		}
		pk, err := parsePack(file, data)
		if err != nil {
			c.fail(fmt.Sprintf("invalid pack: %v", err), "packs", i)
			continue
		}
		if seen[pk.Name] {
			c.fail(fmt.Sprintf("pack %q listed twice", pk.Name), "packs", i)
		}
		seen[pk.Name] = true
		pk.Mode = c.mode(u.Mode, "packs", i, "mode")
		pk.Action = c.action(u.Action, Defer, "packs", i, "action")
		switch u.UnknownRegion {
		case "", "apply":
			pk.UnknownRegion = Defer
		case "skip":
			pk.UnknownRegion = Suppress
		default:
			c.fail(fmt.Sprintf("want apply or skip, got %q", u.UnknownRegion), "packs", i, "unknown_region")
		}
		if len(u.Categories) == 0 {
			c.fail("required: the categories the pack applies to (the law decides which contacts it governs; the policy names them)", "packs", i, "categories")
		}
		for j, cat := range u.Categories {
			class, ok := p.categories[cat]
			switch {
			case !ok:
				c.fail(fmt.Sprintf("unknown category %q", cat), "packs", i, "categories", j)
			case class == ClassCritical || class == ClassTransactional:
				c.fail(fmt.Sprintf("category %q is %s: such contacts are never counted or held back, so a pack cannot govern them", cat, class), "packs", i, "categories", j)
			}
		}
		pk.Categories = u.Categories
		// Calendar days start at a local midnight, up to a day before the
		// UTC one in the zones furthest apart: keep two days more.
		for _, r := range pk.Rules {
			switch {
			case r.cap != nil:
				p.LedgerRetention = max(p.LedgerRetention, r.cap.window, time.Duration(r.cap.days+2)*24*time.Hour)
			case r.cool != nil:
				p.EventRetention = max(p.EventRetention, r.cool.window, time.Duration(r.cool.days+2)*24*time.Hour)
			}
		}
		p.packs = append(p.packs, pk)
	}
}

// pack compiles a pack file.
func (c *compiler) pack(r *rawPack) Pack {
	pk := Pack{Name: r.Pack, Version: r.Version, Title: r.Title, Sources: r.Sources, NotCovered: r.NotCovered}
	if !validName(r.Pack) {
		c.fail("required: a name of a-z, 0-9, '_' and '-'", "pack")
	}
	if strings.TrimSpace(r.Version) == "" {
		c.fail("required: the pack's version, named on every decision it makes", "version")
	}
	if len(r.Rules) == 0 {
		c.fail("required: at least one rule", "rules")
	}
	seen := map[string]bool{}
	for i, rr := range r.Rules {
		if !validName(rr.ID) {
			c.fail("required: an id of a-z, 0-9, '_' and '-'", "rules", i, "id")
		} else if seen[rr.ID] {
			c.fail(fmt.Sprintf("duplicate rule id %q", rr.ID), "rules", i, "id")
		}
		seen[rr.ID] = true
		if strings.TrimSpace(rr.Section) == "" {
			c.fail("required: the section of the law the rule implements", "rules", i, "section")
		}
		pr := PackRule{ID: r.Pack + "." + rr.ID, Section: rr.Section, Summary: rr.Summary, Unconfirmed: rr.Unconfirmed,
			Channels: rr.Channels, Regions: rr.Regions}
		for j, ch := range rr.Channels {
			if !IsChannel(ch) {
				c.fail(fmt.Sprintf("unknown channel %q", ch), "rules", i, "channels", j)
			}
		}
		for j, reg := range rr.Regions {
			if !regionCode.MatchString(reg) {
				c.fail("want an ISO 3166 code like US or US-FL", "rules", i, "regions", j)
			}
		}
		if u := rr.UnlessConsent; u != nil {
			pr.consent = &consentExemption{subject: u.Subject}
			if u.Within != "" {
				pr.consent.within = c.duration(u.Within, "rules", i, "unless_consent", "within")
			}
		}
		kinds := 0
		if rr.Hours != nil || rr.Closed != nil {
			kinds++
			pr.cal = c.calendar(rr, i)
		}
		if rr.Cap != nil {
			kinds++
			pr.cap = c.packCap(rr.Cap, i)
		}
		if rr.Cooldown != nil {
			kinds++
			pr.cool = c.packCooldown(rr.Cooldown, i)
		}
		if kinds != 1 {
			c.fail("give exactly one of hours/closed (a calendar), cap or cooldown", "rules", i)
		}
		pk.Rules = append(pk.Rules, pr)
	}
	return pk
}

func (c *compiler) calendar(rr rawPackRule, i int) *calendar {
	cl := &calendar{limited: rr.Hours != nil}
	for key, list := range rr.Hours {
		days, ok := weekdayKeys[key]
		if !ok {
			c.fail("want mon..sun, weekdays, weekend or every_day", "rules", i, "hours", key)
			continue
		}
		for j, s := range list {
			w, err := allowedWindow(s)
			if err != nil {
				c.fail(err.Error(), "rules", i, "hours", key, j)
				continue
			}
			for _, wd := range days {
				for _, o := range cl.hours[wd] {
					if w.overlaps(o) {
						c.fail(fmt.Sprintf("%s overlaps %s on %s", w, o, wd), "rules", i, "hours", key, j)
					}
				}
				cl.hours[wd] = append(cl.hours[wd], w)
			}
		}
	}
	for wd := range cl.hours {
		slices.SortFunc(cl.hours[wd], func(a, b window) int { return a.start - b.start })
	}
	if cd := rr.Closed; cd != nil {
		for j, k := range cd.Weekdays {
			days, ok := weekdayKeys[k]
			if !ok {
				c.fail("want mon..sun, weekdays or weekend", "rules", i, "closed", "weekdays", j)
			}
			for _, wd := range days {
				cl.closed[wd] = true
			}
		}
		if cd.Holidays != "" {
			if _, ok := holidaySets[cd.Holidays]; !ok {
				c.fail(fmt.Sprintf("unknown holiday set %q (known: %s)", cd.Holidays, strings.Join(HolidaySets(), ", ")), "rules", i, "closed", "holidays")
			}
			cl.holidays = cd.Holidays
		}
	}
	return cl
}

// span validates days (calendar days in the customer's zone) or a rolling
// window: exactly one.
func (c *compiler) span(days int, win string, path ...any) (int, time.Duration) {
	switch {
	case (days > 0) == (win != ""):
		c.fail("give either days (calendar days in the customer's time zone) or window (rolling)", path...)
	case days < 0 || days > 400:
		c.fail("days: between 1 and 400", path...)
	case win != "":
		w := c.duration(win, append(path, "window")...)
		if w > maxCapWindow {
			c.fail("at most 400d", append(path, "window")...)
		}
		return 0, w
	}
	return days, 0
}

func (c *compiler) packCap(rc *rawPackCap, i int) *packCap {
	pc := &packCap{max: rc.Max}
	switch rc.Scope {
	case "customer":
		pc.scope = ScopeCustomer
	case "subject":
		pc.scope = ScopeSubject
	case "channel":
		pc.scope = ScopeChannel
	default:
		c.fail(fmt.Sprintf("want customer, subject or channel, got %q", rc.Scope), "rules", i, "cap", "scope")
	}
	if rc.Max < 1 || rc.Max > maxCapMax {
		c.fail("must be at least 1", "rules", i, "cap", "max")
	}
	pc.days, pc.window = c.span(rc.Days, rc.Window, "rules", i, "cap")
	return pc
}

func (c *compiler) packCooldown(rc *rawPackCooldown, i int) *packCooldown {
	pc := &packCooldown{after: rc.After}
	if !slices.Contains(EventKinds, rc.After) || rc.After == "message" {
		c.fail(fmt.Sprintf("want one of conversation, refusal, stop_keyword, got %q", rc.After), "rules", i, "cooldown", "after")
	}
	switch rc.Scope {
	case "customer", "subject", "channel", "service":
		pc.scope = rc.Scope
	default:
		c.fail(fmt.Sprintf("want customer, subject, channel or service, got %q", rc.Scope), "rules", i, "cooldown", "scope")
	}
	pc.days, pc.window = c.span(rc.Days, rc.Window, "rules", i, "cooldown")
	return pc
}

// packInput is what the pack rules of one evaluation share: the zones the
// customer may be in, found once.
type packInput struct {
	zones []*time.Location
}

// packRules applies the packs: calendars object (and decide, unless the pack
// is in shadow mode); caps and cooldowns become checks for the store.
// It reports true when a calendar decided.
func packRules(p *Policy, s subject, v *Verdict, caps []CapCheck) ([]CapCheck, bool) {
	if len(p.packs) == 0 {
		return caps, false
	}
	var in packInput
	for i := range p.packs {
		pk := &p.packs[i]
		if !slices.Contains(pk.Categories, s.it.GetCategory()) {
			continue
		}
		if in.zones == nil {
			in.zones = p.candidateZones(s.it, s.prefs)
		}
		for j := range pk.Rules {
			r := &pk.Rules[j]
			if !r.applies(pk, s) {
				continue
			}
			switch {
			case r.cap != nil:
				caps = append(caps, r.capCheck(pk, s, in.zones))
			case r.cool != nil:
				v.Cooldowns = append(v.Cooldowns, r.cooldownCheck(pk, s, in.zones))
			default:
				if o, no := r.calendarObjection(pk, s, in.zones); no && p.decidePack(v, pk, r, o) {
					return caps, true
				}
			}
		}
	}
	return caps, false
}

// decidePack is decide for a pack rule: the reason names the pack, its
// version and the section.
func (p *Policy) decidePack(v *Verdict, pk *Pack, r *PackRule, o objection) bool {
	reason := Reason{Code: o.code, Rule: r.ID, Message: o.message, Pack: pk.Name, PackVersion: pk.Version, Section: r.Section}
	if pk.Mode == Shadow {
		v.Shadow = append(v.Shadow, reason)
		return false
	}
	v.Outcome = hushv1.Outcome_OUTCOME_SUPPRESSED
	v.Reason = reason
	v.Caps, v.Cooldowns = nil, nil
	if !o.until.IsZero() {
		v.Outcome = hushv1.Outcome_OUTCOME_DEFERRED
		v.ReleaseAt = o.until.UTC()
	}
	return true
}

// applies reports whether a rule governs the intent: its channel, the
// customer's region (unknown: every region's rules, unless the policy
// says skip), and no recorded consent that lifts it.
func (r *PackRule) applies(pk *Pack, s subject) bool {
	if len(r.Channels) > 0 && !slices.Contains(r.Channels, s.it.GetChannel()) {
		return false
	}
	if len(r.Regions) > 0 {
		region := s.prefs.GetRegion()
		if region == "" {
			if pk.UnknownRegion == Suppress {
				return false
			}
		} else if !regionMatches(r.Regions, region) {
			return false
		}
	}
	return r.consent == nil || !r.consent.covers(s)
}

func regionMatches(list []string, region string) bool {
	country, _, _ := strings.Cut(region, "-")
	for _, r := range list {
		if r == region || r == country {
			return true
		}
	}
	return false
}

// covers reports whether the customer's recorded consent lifts the rule.
func (e *consentExemption) covers(s subject) bool {
	for _, g := range s.prefs.GetConsents() {
		given := g.GetGivenAt()
		switch {
		case given == nil || given.AsTime().After(s.now):
		case g.GetWithdrawnAt() != nil && !g.GetWithdrawnAt().AsTime().After(s.now):
		case e.within > 0 && s.now.Sub(given.AsTime()) > e.within:
		case g.GetCategory() != "" && g.GetCategory() != s.it.GetCategory():
		case g.GetChannel() != "" && g.GetChannel() != s.it.GetChannel():
		case e.subject && (g.GetSubjectRef() == "" || g.GetSubjectRef() != s.it.GetSubjectRef()):
		case !e.subject && g.GetSubjectRef() != "" && g.GetSubjectRef() != s.it.GetSubjectRef():
		default:
			return true
		}
	}
	return false
}

// calendarObjection checks the calendar in every zone the customer may be
// in: a contact passes only when every zone allows it, and is deferred to
// the first instant they all do.
func (r *PackRule) calendarObjection(pk *Pack, s subject, zones []*time.Location) (objection, bool) {
	for _, loc := range zones {
		lt := s.now.In(loc)
		closedDay, why, ok := r.cal.check(lt)
		if ok {
			continue
		}
		o := objection{code: hushv1.ReasonCode_REASON_CODE_OUTSIDE_CONTACT_HOURS}
		if closedDay {
			o.code = hushv1.ReasonCode_REASON_CODE_NO_CONTACT_DAY
		}
		where := lt.Format("Mon 2006-01-02 15:04:05") + " in " + loc.String() + ": " + why
		until, found := r.cal.allowedEverywhere(s.now, zones)
		late := s.it.GetNotAfter() != nil && !until.Before(s.it.GetNotAfter().AsTime())
		switch {
		case !found:
			o.message = where + "; no allowed time in the next 14 days in every zone the customer may be in"
		case pk.Action == Defer && !late:
			o.message, o.until = where+"; deferred to "+Stamp(until), until
		case pk.Action == Defer:
			o.message = where + "; next allowed " + Stamp(until) + ", after the intent's deadline"
		default:
			o.message = where + "; next allowed " + Stamp(until)
		}
		return o, true
	}
	return objection{}, false
}

// capCheck is the rule's cap for the intent. A cap per subject counts, for
// an intent that names no subject, every contact of its channels: fail
// closed. Calendar days are counted in the customer's zone from local
// midnight (day 1 is today); with several candidate zones, the earliest
// midnight, so that the window is never shorter than the law's.
func (r *PackRule) capCheck(pk *Pack, s subject, zones []*time.Location) CapCheck {
	c := CapCheck{Rule: r.ID, Scope: r.cap.scope, Max: r.cap.max, Shadow: pk.Mode == Shadow,
		Code: hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, Pack: pk.Name, PackVersion: pk.Version, Section: r.Section,
		Days: r.cap.days}
	switch r.cap.scope {
	case ScopeSubject:
		c.Value = s.it.GetSubjectRef()
		if c.Value == "" {
			c.Scope = ScopeCustomer
		}
	case ScopeChannel:
		c.Value = s.it.GetChannel()
	}
	if len(r.Channels) > 0 {
		c.Channels = "," + strings.Join(r.Channels, ",") + ","
	}
	c.Window = r.cap.window
	if r.cap.days > 0 {
		// +1ms: the store counts contacts after now-window; midnight itself
		// belongs to the day.
		c.Window = s.now.Sub(daysSince(s.now, r.cap.days, zones)) + time.Millisecond
	}
	return c
}

// daysSince is local midnight of the first of n calendar days ending today,
// the earliest over the zones.
func daysSince(now time.Time, n int, zones []*time.Location) time.Time {
	var since time.Time
	for _, loc := range zones {
		lt := now.In(loc)
		y, m, d := lt.Date()
		t := time.Date(y, m, d-(n-1), 0, 0, 0, 0, loc)
		if since.IsZero() || t.Before(since) {
			since = t
		}
	}
	if since.IsZero() {
		since = now.Add(-time.Duration(n) * 24 * time.Hour)
	}
	return since
}

// candidateZones are the zones the customer may be in, as quiet hours find
// them: a zone the customer set (with their number's zones under
// strict_zones), else their region's and their number's, else the policy's
// fallback region or zone. An unknown zone never means "anywhere goes".
func (p *Policy) candidateZones(it *hushv1.ContactIntent, prefs *hushv1.Preferences) []*time.Location {
	region := prefs.GetRegion()
	rule := p.quiet.ruleFor(region)
	var cs []candidate
	if loc := p.location(prefs.GetTimeZone()); loc != nil {
		if !p.quiet.strict {
			return []*time.Location{loc}
		}
		cs = append(cs, candidate{loc, rule})
	} else {
		cs = p.addRegion(cs, region, rule)
	}
	cs = p.addNumber(cs, it, region, rule)
	if len(cs) == 0 {
		if p.fallbackRegion != "" {
			cs = p.addRegion(cs, p.fallbackRegion, rule)
		} else {
			cs = append(cs, candidate{p.FallbackZone, rule})
		}
	}
	out := make([]*time.Location, 0, len(cs))
	for _, c := range cs {
		if !slices.Contains(out, c.loc) {
			out = append(out, c.loc)
		}
	}
	return out
}

// PackCaps returns the caps the policy's packs apply to an intent at a
// time, as Evaluate makes them (the customer's zones and consent from
// prefs): for tools that read how full they are from a ledger.
func (p *Policy) PackCaps(it *hushv1.ContactIntent, prefs *hushv1.Preferences, at time.Time) []CapCheck {
	s := subject{it: it, prefs: prefs, now: at, class: p.categories[it.GetCategory()]}
	var zones []*time.Location
	var out []CapCheck
	for i := range p.packs {
		pk := &p.packs[i]
		if !slices.Contains(pk.Categories, it.GetCategory()) {
			continue
		}
		for j := range pk.Rules {
			r := &pk.Rules[j]
			if r.cap == nil || !r.applies(pk, s) {
				continue
			}
			if zones == nil {
				zones = p.candidateZones(it, prefs)
			}
			out = append(out, r.capCheck(pk, s, zones))
		}
	}
	return out
}
