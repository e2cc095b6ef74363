package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxCustomerWindow bounds the window of a customer's own maximum frequency,
// so that the contact ledger's retention is known from the policy alone:
// the ledger always keeps at least this much (LedgerRetention), and the
// preferences API and hushctl refuse longer windows rather than honour
// them as this one.
const MaxCustomerWindow = 31 * 24 * time.Hour

// rawPolicy mirrors the file; see docs/policy.md for every field.
type rawPolicy struct {
	Version           string                 `yaml:"version"`
	FallbackTimeZone  string                 `yaml:"fallback_time_zone"`
	FallbackRegion    string                 `yaml:"fallback_region"`
	UnknownZone       string                 `yaml:"unknown_zone"`
	DecisionRetention string                 `yaml:"decision_retention"`
	ReplyWindow       string                 `yaml:"reply_window"`
	Categories        map[string]rawCategory `yaml:"categories"`
	Rules             map[string]rawRule     `yaml:"rules"`
	QuietHours        *rawQuietHours         `yaml:"quiet_hours"`
	CustomerFrequency *rawCustomerFrequency  `yaml:"customer_frequency"`
	Unsolicited       *rawUnsolicited        `yaml:"unsolicited"`
	Caps              []rawCap               `yaml:"caps"`
	Producers         map[string]rawProducer `yaml:"producers"`
	Consent           *rawConsent            `yaml:"consent"`
	Digest            *rawDigest             `yaml:"digest"`
	Arbitration       *rawArbitration        `yaml:"arbitration"`
}

type rawCategory struct {
	Class  string   `yaml:"class"`
	Topics []string `yaml:"topics"`
	// Restricted limits the category to the producers that list it
	// (always so for critical and transactional categories).
	Restricted *bool `yaml:"restricted"`
	// RequiresConsent: contacts wait for recorded opt-in consent
	// (see consent.go).
	RequiresConsent bool `yaml:"requires_consent"`
	// Priority is the category's intents' priority when they give none.
	Priority string `yaml:"priority"`
}

type rawRule struct {
	Mode string `yaml:"mode"`
}

type rawQuietHours struct {
	Classes       []string             `yaml:"classes"`
	Action        string               `yaml:"action"`
	Quiet         []string             `yaml:"quiet"`
	CustomerHours *bool                `yaml:"customer_hours"`
	StrictZones   bool                 `yaml:"strict_zones"`
	Regions       map[string]rawRegion `yaml:"regions"`
}

type rawRegion struct {
	Quiet   []string `yaml:"quiet"`
	Allowed string   `yaml:"allowed"`
	Action  string   `yaml:"action"`
}

type rawCustomerFrequency struct {
	Classes []string `yaml:"classes"`
}

type rawUnsolicited struct {
	Customer *rawLimit `yaml:"customer"`
	Agent    *rawLimit `yaml:"agent"`
}

type rawLimit struct {
	Window string `yaml:"window"`
	Max    int    `yaml:"max"`
}

type rawCap struct {
	ID      string   `yaml:"id"`
	Scope   string   `yaml:"scope"`
	Window  string   `yaml:"window"`
	Max     int      `yaml:"max"`
	Classes []string `yaml:"classes"`
	Mode    string   `yaml:"mode"`
	// Reserve, Action and MaxWait: see priority_load.go.
	Reserve *rawReserve `yaml:"reserve"`
	Action  string      `yaml:"action"`
	MaxWait string      `yaml:"max_wait"`
}

// Bounds that make a cap or window meaningful.
const (
	minCapWindow = time.Second
	maxCapWindow = 400 * 24 * time.Hour
	maxCapMax    = 100_000
	maxReply     = 90 * 24 * time.Hour
)

var regionCode = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`)

// Error is a problem in a policy file, with the line and the field at fault.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error prints file:line: field: message.
func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// LoadFile reads and validates a policy file.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Parse(path, data)
}

var (
	unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found`)
	atLine       = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// lineError turns one of yaml.v3's "line N: msg" messages into an *Error.
func lineError(name, m string) error {
	m = strings.TrimPrefix(m, "yaml: ")
	if s := atLine.FindStringSubmatch(m); s != nil {
		line, _ := strconv.Atoi(s[1])
		return &Error{File: name, Line: line, Msg: s[2]}
	}
	return fmt.Errorf("%s: %s", name, m)
}

// Parse validates a policy document. name is used in error messages. Every
// problem found is reported, each as an *Error.
func Parse(name string, data []byte) (*Policy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	var raw rawPolicy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, yamlError(name, err)
	}
	c := compiler{name: name, root: &root}
	p := c.compile(&raw)
	slices.SortStableFunc(c.errs, func(a, b error) int {
		return cmp.Compare(a.(*Error).Line, b.(*Error).Line)
	})
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	p.Source = slices.Clone(data)
	return p, nil
}

// yamlError turns yaml.v3's messages into file:line errors.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, m := range te.Errors {
			if s := unknownField.FindStringSubmatch(m); s != nil {
				line, _ := strconv.Atoi(s[1])
				errs = append(errs, &Error{File: name, Line: line, Field: s[2], Msg: "unknown field"})
				continue
			}
			errs = append(errs, lineError(name, m))
		}
		return errors.Join(errs...)
	}
	return lineError(name, err.Error())
}

type compiler struct {
	name string
	root *yaml.Node
	errs []error
}

// fail records an error at the line of the node at path (a sequence of map
// keys and sequence indexes), or of its nearest existing parent.
func (c *compiler) fail(msg string, path ...any) {
	c.errs = append(c.errs, &Error{File: c.name, Line: lineOf(c.root, path), Field: fieldName(path), Msg: msg})
}

func (c *compiler) compile(r *rawPolicy) *Policy {
	p := &Policy{
		Version:    r.Version,
		categories: make(map[string]Class, len(r.Categories)),
		rules:      make(map[string]Mode, len(RuleIDs)),
		zones:      new(zoneCache),
	}
	c.basics(p, r)
	c.categories(p, r.Categories)
	c.producers(p, r.Categories, r.Producers)
	c.consent(p, r.Categories, r.Consent)
	c.ruleModes(p, r.Rules)
	c.quietHours(p, r.QuietHours)
	c.counted(p, r)
	c.caps(p, r.Caps)
	c.digest(p, r.Digest)
	c.priorities(p, r)
	return p
}

// basics compiles the version, the fallback zone and the retentions.
func (c *compiler) basics(p *Policy, r *rawPolicy) {
	if strings.TrimSpace(r.Version) == "" {
		c.fail("required: name this policy version; it appears on every decision", "version")
	}

	zone := r.FallbackTimeZone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		c.fail(fmt.Sprintf("unknown time zone %q (want an IANA name like Europe/Paris)", zone), "fallback_time_zone")
		loc = time.UTC
	}
	p.FallbackZone = loc
	p.unknownZone = c.action(r.UnknownZone, Defer, "unknown_zone")
	if fr := r.FallbackRegion; fr != "" {
		switch {
		case !regionCode.MatchString(fr):
			c.fail("want an ISO 3166 code like US or US-FL", "fallback_region")
		case len(RegionZones(fr)) == 0:
			c.fail(fmt.Sprintf("no time zones are known for %q", fr), "fallback_region")
		default:
			p.fallbackRegion = fr
		}
	}

	p.DecisionRetention = 72 * time.Hour
	if r.DecisionRetention != "" {
		p.DecisionRetention = c.duration(r.DecisionRetention, "decision_retention")
	}
	p.ReplyWindow = 7 * 24 * time.Hour
	if r.ReplyWindow != "" {
		p.ReplyWindow = c.duration(r.ReplyWindow, "reply_window")
		if p.ReplyWindow > maxReply {
			c.fail("at most 90d: a reply window is about a conversation in progress", "reply_window")
		}
	}
}

func (c *compiler) categories(p *Policy, cats map[string]rawCategory) {
	if len(cats) == 0 {
		c.fail("required: at least one category", "categories")
	}
	for name, cat := range cats {
		if !validName(name) {
			c.fail("category names use a-z, 0-9, '_' and '-'", "categories", name)
		}
		class := Class(cat.Class)
		if !class.valid() {
			c.fail(fmt.Sprintf("unknown class %q (want one of %s)", cat.Class, strings.Join(classNames, ", ")), "categories", name, "class")
		}
		p.categories[name] = class
		c.topics(p, name, cat.Topics)
	}
}

// ruleModes compiles the rules section: every rule enforces unless it says
// otherwise.
func (c *compiler) ruleModes(p *Policy, modes map[string]rawRule) {
	for _, id := range RuleIDs {
		p.rules[id] = Enforce
	}
	for id, rule := range modes {
		if _, known := p.rules[id]; !known {
			c.fail(fmt.Sprintf("unknown rule (known: %s; caps set their mode in caps)", strings.Join(RuleIDs, ", ")), "rules", id)
			continue
		}
		p.rules[id] = c.mode(rule.Mode, "rules", id, "mode")
	}
}

// counted compiles the customer's own frequency and the over-servicing
// guard.
func (c *compiler) counted(p *Policy, r *rawPolicy) {
	p.custFreq = classBit(ClassService) | classBit(ClassMarketing)
	if f := r.CustomerFrequency; f != nil {
		p.custFreq = c.classes(f.Classes, "customer_frequency", "classes")
	}
	p.custFreqCodes = p.custFreq.codes()

	p.unsolicited = unsolicitedGuard{customerWindow: 14 * 24 * time.Hour, customerMax: 1, agentWindow: 24 * time.Hour, agentMax: 20}
	if u := r.Unsolicited; u != nil {
		if u.Customer != nil {
			p.unsolicited.customerWindow, p.unsolicited.customerMax = c.limit(u.Customer, "unsolicited", "customer")
		}
		if u.Agent != nil {
			p.unsolicited.agentWindow, p.unsolicited.agentMax = c.limit(u.Agent, "unsolicited", "agent")
		}
	}
}

// caps compiles the caps, and the ledger retention they and the counted
// rules need.
func (c *compiler) caps(p *Policy, caps []rawCap) {
	seen := map[string]bool{}
	p.LedgerRetention = max(MaxCustomerWindow, p.unsolicited.customerWindow)
	for i, rc := range caps {
		cp := Cap{ID: rc.ID, Max: rc.Max, Mode: c.mode(rc.Mode, "caps", i, "mode")}
		switch {
		case !validName(rc.ID):
			c.fail("required: an id of a-z, 0-9, '_' and '-'", "caps", i, "id")
		case seen[rc.ID]:
			c.fail(fmt.Sprintf("duplicate cap id %q", rc.ID), "caps", i, "id")
		}
		seen[rc.ID] = true
		cp.Scope = c.scope(rc.Scope, "caps", i, "scope")
		cp.Window, cp.Max = c.limit(&rawLimit{Window: rc.Window, Max: rc.Max}, "caps", i)
		cp.set = c.classes(rc.Classes, "caps", i, "classes")
		for _, k := range classNames {
			if cp.set.has(Class(k)) {
				cp.Classes = append(cp.Classes, Class(k))
			}
		}
		cp.codes = cp.set.codes()
		cp.rule = "cap." + rc.ID
		c.capBudget(&cp, rc, i)
		p.LedgerRetention = max(p.LedgerRetention, cp.Window)
		p.caps = append(p.caps, cp)
	}
}

// limit validates a window and a max: "at most max in any window".
func (c *compiler) limit(l *rawLimit, path ...any) (time.Duration, int) {
	w := c.duration(l.Window, append(path, "window")...)
	switch {
	case l.Window == "":
	case w < minCapWindow:
		c.fail("at least 1s: a shorter window cannot be counted", append(path, "window")...)
	case w > maxCapWindow:
		c.fail("at most 400d: the contact ledger keeps no more", append(path, "window")...)
	}
	switch {
	case l.Max < 1:
		c.fail("must be at least 1 (a cap of 0 blocks everything; use an opt-out or a mode instead)", append(path, "max")...)
	case l.Max > maxCapMax:
		c.fail(fmt.Sprintf("at most %d: a larger cap is never reached", maxCapMax), append(path, "max")...)
	}
	return w, l.Max
}

// classes validates a list of classes a counted rule applies to. Critical
// contacts are never capped and transactional ones ignore caps, so naming
// them is a mistake worth refusing.
func (c *compiler) classes(list []string, path ...any) classSet {
	if len(list) == 0 {
		c.fail("required: the classes this applies to", path...)
	}
	var set classSet
	for j, k := range list {
		switch class := Class(k); {
		case !class.valid():
			c.fail(fmt.Sprintf("unknown class %q (want one of %s)", k, strings.Join(classNames, ", ")), append(path, j)...)
		case class == ClassCritical:
			c.fail("critical contacts are never capped", append(path, j)...)
		case class == ClassTransactional:
			c.fail("transactional contacts ignore caps", append(path, j)...)
		case set.has(class):
			c.fail(fmt.Sprintf("class %q listed twice", k), append(path, j)...)
		default:
			set |= classBit(class)
		}
	}
	return set
}

// quietHours compiles the quiet-hours section. Without one there are no
// quiet hours (so that a policy written for tests or simulations does not
// depend on the time of day); a section without quiet windows or classes
// takes 21:00-08:00 for service and marketing contacts, deferred.
func (c *compiler) quietHours(p *Policy, r *rawQuietHours) {
	if r == nil {
		return
	}
	q := quietHours{
		classes:  classBit(ClassService) | classBit(ClassMarketing),
		rule:     quietRule{windows: []window{{21 * 60, 8 * 60}}, action: Defer},
		customer: true,
	}
	if r.Classes != nil {
		q.classes = c.quietClasses(r.Classes)
	}
	q.rule.action = c.quietAction(r.Action, Defer, "quiet_hours", "action")
	if r.Quiet != nil {
		q.rule.windows = c.windows(r.Quiet, "quiet_hours", "quiet")
	}
	if r.CustomerHours != nil {
		q.customer = *r.CustomerHours
	}
	q.strict = r.StrictZones
	if len(r.Regions) > 0 {
		q.regions = make(map[string]*quietRule, len(r.Regions))
	}
	for code, reg := range r.Regions {
		rule := c.region(code, reg, q.rule.action)
		q.regions[code] = &rule
	}
	p.quiet = q
}

// quietClasses compiles the classes quiet hours hold back.
func (c *compiler) quietClasses(list []string) classSet {
	var set classSet
	for j, k := range list {
		switch class := Class(k); {
		case !class.valid():
			c.fail(fmt.Sprintf("unknown class %q (want one of %s)", k, strings.Join(classNames, ", ")), "quiet_hours", "classes", j)
		case class == ClassCritical:
			c.fail("critical contacts are never held back", "quiet_hours", "classes", j)
		default:
			set |= classBit(class)
		}
	}
	return set
}

// region compiles the quiet hours of one region; its action defaults to
// the policy's.
func (c *compiler) region(code string, reg rawRegion, action Action) quietRule {
	if !regionCode.MatchString(code) {
		c.fail("want an ISO 3166 code like US or US-FL", "quiet_hours", "regions", code)
	}
	rule := quietRule{action: c.quietAction(reg.Action, action, "quiet_hours", "regions", code, "action")}
	switch {
	case reg.Allowed != "" && reg.Quiet != nil:
		c.fail("give either allowed or quiet, not both", "quiet_hours", "regions", code, "allowed")
	case reg.Allowed != "":
		w, err := parseWindow(reg.Allowed)
		if err != nil {
			c.fail(err.Error(), "quiet_hours", "regions", code, "allowed")
		}
		rule.windows = []window{{w.end, w.start}} // quiet is the complement
	case reg.Quiet != nil:
		rule.windows = c.windows(reg.Quiet, "quiet_hours", "regions", code, "quiet")
	default:
		c.fail("required: allowed (the window contacts may happen in) or quiet (the windows they may not)", "quiet_hours", "regions", code)
	}
	return rule
}

// windows parses a list of quiet windows, refusing overlaps: two windows
// that overlap are one window written twice, usually by mistake.
func (c *compiler) windows(list []string, path ...any) []window {
	out := make([]window, 0, len(list))
	for j, s := range list {
		w, err := parseWindow(s)
		if err != nil {
			c.fail(err.Error(), append(path, j)...)
			continue
		}
		for _, o := range out {
			if w.overlaps(o) {
				c.fail(fmt.Sprintf("%s overlaps %s; merge them into one window", w, o), append(path, j)...)
			}
		}
		out = append(out, w)
	}
	return out
}

func (c *compiler) action(s string, def Action, path ...any) Action {
	switch Action(s) {
	case "":
		return def
	case Defer, Suppress:
		return Action(s)
	}
	c.fail(fmt.Sprintf("want defer or suppress, got %q", s), path...)
	return def
}

func (c *compiler) duration(s string, path ...any) time.Duration {
	d, err := ParseDuration(s)
	if err != nil || d <= 0 {
		c.fail(fmt.Sprintf("want a positive duration like 90m, 24h or 7d, got %q", s), path...)
		return time.Hour
	}
	return d
}

func (c *compiler) mode(s string, path ...any) Mode {
	switch Mode(s) {
	case "", Enforce:
		return Enforce
	case Shadow:
		return Shadow
	}
	c.fail(fmt.Sprintf("want enforce or shadow, got %q", s), path...)
	return Enforce
}

func (c *compiler) scope(s string, path ...any) Scope {
	for i, n := range scopeNames {
		if n == s {
			return Scope(i)
		}
	}
	c.fail(fmt.Sprintf("want one of %s, got %q", strings.Join(scopeNames[:], ", "), s), path...)
	return ScopeCustomer
}

// ParseDuration accepts Go durations plus whole days ("7d", "14d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 100_000 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

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

// lineOf finds the line of the node at path, falling back to the deepest
// node that exists.
func lineOf(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						line = n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func fieldName(path []any) string {
	var b strings.Builder
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s)
		case int:
			fmt.Fprintf(&b, "[%d]", s)
		}
	}
	return b.String()
}
