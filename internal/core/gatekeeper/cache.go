package gatekeeper

import (
	"hash/maphash"
	"sync"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// prefsCache remembers the last preferences seen per customer. It is only an
// optimisation: the store refuses any decision made with an older version,
// so a stale entry costs one more round trip, never a wrong decision.
type prefsCache struct {
	seed   maphash.Seed
	shards [64]prefsShard
	per    int
}

type prefsShard struct {
	mu sync.Mutex
	m  map[string]prefsEntry
}

type prefsEntry struct {
	prefs   *hushv1.Preferences
	version uint64
}

func newPrefsCache(size int) *prefsCache {
	c := &prefsCache{seed: maphash.MakeSeed(), per: max(size/64, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]prefsEntry)
	}
	return c
}

func (c *prefsCache) shard(customer string) *prefsShard {
	return &c.shards[maphash.String(c.seed, customer)%uint64(len(c.shards))]
}

// get returns the cached preferences, or none at version 0: most customers
// have no preferences, and for them the first guess is right.
func (c *prefsCache) get(customer string) (*hushv1.Preferences, uint64) {
	s := c.shard(customer)
	s.mu.Lock()
	e := s.m[customer]
	s.mu.Unlock()
	return e.prefs, e.version
}

func (c *prefsCache) put(customer string, p *hushv1.Preferences, version uint64) {
	s := c.shard(customer)
	s.mu.Lock()
	defer s.mu.Unlock()
	// The store's answer always wins, even a lower version: after a Redis
	// restore the version may go back, and the store is the truth. That is
	// safe because a version names one set of preferences for good: it is
	// never reused for a customer, even after Redis loses the customer
	// (consent.Service numbers the change after a loss past the consent
	// history), and decide.lua refuses any version but the current one.
	if _, ok := s.m[customer]; !ok && len(s.m) >= c.per {
		for k := range s.m { // evict an arbitrary entry
			delete(s.m, k)
			break
		}
	}
	s.m[customer] = prefsEntry{p, version}
}
