package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Topic is a topic the policy declares within a category, so that the
// preference page can offer it by name.
type Topic struct {
	Name     string
	Category string
}

// topicName is the shape of a topic, as the preferences API accepts it.
var topicName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)

// Topics returns the topics the policy declares, sorted by name.
func (p *Policy) Topics() []Topic { return slices.Clone(p.topics) }

// TopicNamed returns the declared spelling of a topic, matched without
// regard to case ("Order-Updates" finds "order-updates"), and whether the
// policy declares it. Intents name topics exactly, so a customer's choice
// is kept in the declared spelling.
func (p *Policy) TopicNamed(name string) (string, bool) {
	for _, t := range p.topics {
		if strings.EqualFold(t.Name, name) {
			return t.Name, true
		}
	}
	return "", false
}

// topics validates the topics a category declares: well-formed and unique
// across the policy without regard to case, since customers type them.
func (c *compiler) topics(p *Policy, category string, names []string) {
	for i, n := range names {
		if !topicName.MatchString(n) {
			c.fail("a topic is 1-128 letters, digits and . _ : / -, starting with a letter or digit", "categories", category, "topics", i)
			continue
		}
		if other, dup := p.TopicNamed(n); dup {
			c.fail(fmt.Sprintf("topic %q is declared twice (as %q; case does not tell topics apart)", n, other), "categories", category, "topics", i)
			continue
		}
		p.topics = append(p.topics, Topic{Name: n, Category: category})
		slices.SortFunc(p.topics, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	}
}
