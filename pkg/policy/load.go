package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxCustomerWindow bounds the window of a customer's own maximum frequency,
// so that the contact ledger's retention is known from the policy alone.
const MaxCustomerWindow = 31 * 24 * time.Hour

// rawPolicy mirrors the file; see docs/policy.md for every field.
type rawPolicy struct {
	Version           string                 `yaml:"version"`
	FallbackTimeZone  string                 `yaml:"fallback_time_zone"`
	DecisionRetention string                 `yaml:"decision_retention"`
	Categories        map[string]rawCategory `yaml:"categories"`
	Rules             map[string]rawRule     `yaml:"rules"`
	Caps              []rawCap               `yaml:"caps"`
}

type rawCategory struct {
	Class string `yaml:"class"`
}

type rawRule struct {
	Mode string `yaml:"mode"`
}

type rawCap struct {
	ID      string   `yaml:"id"`
	Scope   string   `yaml:"scope"`
	Window  string   `yaml:"window"`
	Max     int      `yaml:"max"`
	Classes []string `yaml:"classes"`
	Mode    string   `yaml:"mode"`
}

// ruleIDs are the rules a policy file may set a mode for.
var ruleIDs = []string{RuleOptOut, RuleDoNothing}

// Error is a problem in a policy file, with the line and the field at fault.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

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

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found`)

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
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
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
			errs = append(errs, fmt.Errorf("%s: %s", name, strings.TrimPrefix(m, "yaml: ")))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
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
		rules:      make(map[string]Mode, len(ruleIDs)),
	}
	if strings.TrimSpace(r.Version) == "" {
		c.fail("required: name this policy version; it appears on every decision", "version")
	}

	zone := r.FallbackTimeZone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		c.fail(fmt.Sprintf("unknown time zone %q", zone), "fallback_time_zone")
		loc = time.UTC
	}
	p.FallbackZone = loc

	p.DecisionRetention = 72 * time.Hour
	if r.DecisionRetention != "" {
		p.DecisionRetention = c.duration(r.DecisionRetention, "decision_retention")
	}

	if len(r.Categories) == 0 {
		c.fail("required: at least one category", "categories")
	}
	for name, cat := range r.Categories {
		if !validName(name) {
			c.fail("category names use a-z, 0-9, '_' and '-'", "categories", name)
		}
		class := Class(cat.Class)
		if !class.valid() {
			c.fail(fmt.Sprintf("unknown class %q (want critical, transactional, service or marketing)", cat.Class), "categories", name, "class")
		}
		p.categories[name] = class
	}

	for _, id := range ruleIDs {
		p.rules[id] = Enforce
	}
	for id, rule := range r.Rules {
		if _, known := p.rules[id]; !known {
			c.fail(fmt.Sprintf("unknown rule (known: %s)", strings.Join(ruleIDs, ", ")), "rules", id)
			continue
		}
		p.rules[id] = c.mode(rule.Mode, "rules", id, "mode")
	}

	seen := map[string]bool{}
	p.LedgerRetention = MaxCustomerWindow
	for i, rc := range r.Caps {
		cp := Cap{ID: rc.ID, Max: rc.Max, Mode: c.mode(rc.Mode, "caps", i, "mode"), rule: "cap." + rc.ID}
		switch {
		case !validName(rc.ID):
			c.fail("required: an id of a-z, 0-9, '_' and '-'", "caps", i, "id")
		case seen[rc.ID]:
			c.fail(fmt.Sprintf("duplicate cap id %q", rc.ID), "caps", i, "id")
		}
		seen[rc.ID] = true
		cp.Scope = c.scope(rc.Scope, "caps", i, "scope")
		cp.Window = c.duration(rc.Window, "caps", i, "window")
		if rc.Max < 1 {
			c.fail("must be at least 1 (a cap of 0 blocks everything; use an opt-out rule instead)", "caps", i, "max")
		}
		if len(rc.Classes) == 0 {
			c.fail("required: the classes this cap applies to", "caps", i, "classes")
		}
		for j, k := range rc.Classes {
			switch class := Class(k); {
			case !class.valid():
				c.fail(fmt.Sprintf("unknown class %q", k), "caps", i, "classes", j)
			case class == ClassCritical:
				c.fail("critical contacts are never capped", "caps", i, "classes", j)
			default:
				cp.Classes = append(cp.Classes, class)
			}
		}
		p.LedgerRetention = max(p.LedgerRetention, cp.Window)
		p.caps = append(p.caps, cp)
	}
	return p
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
		if err != nil {
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
