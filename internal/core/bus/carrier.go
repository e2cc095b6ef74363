package bus

import (
	"github.com/nats-io/nats.go"
)

// HeaderCarrier carries W3C trace context in NATS headers without changing
// the case of names. propagation.HeaderCarrier canonicalises "traceparent"
// to "Traceparent", which producers in other languages do not read; this
// carrier writes names as the propagator gives them and reads them in any
// case.
type HeaderCarrier nats.Header

// Get returns the first value of key, in any case.
func (c HeaderCarrier) Get(key string) string { return Header(nats.Header(c), key) }

// Set replaces key's value, keeping key's case.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names present.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
