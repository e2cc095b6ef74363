package policy

import "sort"

// CategoryNames lists the categories the policy names, sorted.
func (p *Policy) CategoryNames() []string {
	out := make([]string, 0, len(p.categories))
	for c := range p.categories {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
