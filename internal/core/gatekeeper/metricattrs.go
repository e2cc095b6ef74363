package gatekeeper

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxAttrSets bounds attrCache: labels come from the policy (rule ids,
// categories) and the channel list, so a replica sees a few hundred sets;
// past the bound, sets are built per call as before.
const maxAttrSets = 10000

// attrCache keeps the attribute sets of the decision metrics, built once
// per label combination. metric.WithAttributes copies, sorts and
// de-duplicates its attributes into a new set on every call: with four
// instruments per decision, the profile showed that as most of Decided.
type attrCache struct {
	mu   sync.RWMutex
	sets map[decisionLabels]metric.MeasurementOption
}

// decisionLabels are the labels of one decision series (kind tells the
// instruments apart: "decision", "shadow", "outcome").
type decisionLabels struct {
	kind, outcome, reason, rule, channel, category string
	replayed                                       bool
}

// option returns the measurement option for l, building it with attrs on
// first use.
func (c *attrCache) option(l decisionLabels, attrs func() []attribute.KeyValue) metric.MeasurementOption {
	c.mu.RLock()
	o, ok := c.sets[l]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(attrs()...))
	c.mu.Lock()
	if c.sets == nil {
		c.sets = make(map[decisionLabels]metric.MeasurementOption)
	}
	if len(c.sets) < maxAttrSets {
		c.sets[l] = o
	}
	c.mu.Unlock()
	return o
}
