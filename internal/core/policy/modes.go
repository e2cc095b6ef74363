package policy

import (
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ModeScope is what a customer's mode lets through under a policy: the
// single statement of rule 6 that the preference page words its choices
// from, so that what the page promises and what the rules do cannot drift.
type ModeScope struct {
	Mode hushv1.Mode
	// All is true when the mode itself blocks nothing (normal): what gets
	// through is then decided by the customer's other choices and the caps.
	All bool
	// Classes are the classes the mode lets through whatever the customer
	// chose, in the order critical, transactional, service, marketing.
	Classes []Class
	// Categories are the policy's categories of those classes, sorted.
	Categories []string
	// Replies is true when answers to the customer's own contact (inside
	// the reply window its in_reply_to names) pass whatever their class.
	Replies bool
}

// Lets reports whether the mode lets an intent of class through; reply
// says whether it answers the customer's own contact inside a reply window.
func (s ModeScope) Lets(class Class, reply bool) bool {
	if s.All || reply && s.Replies {
		return true
	}
	for _, c := range s.Classes {
		if c == class {
			return true
		}
	}
	return false
}

// modeClasses is rule 6 of the design. Critical contacts are never blocked
// by a mode (rule 4). Each mode lets through a subset of what the one
// before it lets through, so that "leave me alone" is never looser than
// "essential only": both let replies to the customer's own contact pass.
var modeClasses = []struct {
	mode    hushv1.Mode
	all     bool
	classes []Class
	replies bool
}{
	{hushv1.Mode_MODE_NORMAL, true, []Class{ClassCritical, ClassTransactional, ClassService, ClassMarketing}, true},
	{hushv1.Mode_MODE_ESSENTIAL_ONLY, false, []Class{ClassCritical, ClassTransactional}, true},
	{hushv1.Mode_MODE_DO_NOTHING, false, []Class{ClassCritical}, true},
}

// Modes returns what each mode lets through under this policy, from the
// loosest (normal) to the strictest (do_nothing).
func (p *Policy) Modes() []ModeScope {
	out := make([]ModeScope, 0, len(modeClasses))
	for _, m := range modeClasses {
		out = append(out, p.modeScope(m.mode, m.all, m.classes, m.replies))
	}
	return out
}

// ModeLets returns what mode lets through under this policy; an unknown
// mode is treated as normal, as the rules treat it.
func (p *Policy) ModeLets(mode hushv1.Mode) ModeScope {
	for _, s := range p.Modes() {
		if s.Mode == mode {
			return s
		}
	}
	s := p.Modes()[0]
	s.Mode = mode
	return s
}

func (p *Policy) modeScope(mode hushv1.Mode, all bool, classes []Class, replies bool) ModeScope {
	s := ModeScope{Mode: mode, All: all, Replies: replies, Classes: classes}
	for _, name := range p.CategoryNames() {
		for _, c := range classes {
			if p.categories[name] == c {
				s.Categories = append(s.Categories, name)
			}
		}
	}
	return s
}
