package gatekeeper

import (
	"hash/maphash"
	"sync"
	"time"
)

// replyCache remembers the end of the reply windows this replica has seen,
// by customer and thread, so that a reply is decided in one round trip. Like
// the preferences cache it is only a guess: the store compares it with the
// recorded window in the same script that records the decision, and a wrong
// guess costs one more round trip, never a wrong decision.
type replyCache struct {
	seed   maphash.Seed
	shards [16]replyShard
	per    int
}

type replyShard struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newReplyCache(size int) *replyCache {
	c := &replyCache{seed: maphash.MakeSeed(), per: max(size/16, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]time.Time)
	}
	return c
}

func (c *replyCache) shard(key string) *replyShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// get returns the window end last seen for a customer's thread; zero when
// none was seen (most intents reply to nothing).
func (c *replyCache) get(customer, thread string) time.Time {
	if thread == "" {
		return time.Time{}
	}
	key := customer + "\x1f" + thread
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// put records the store's answer for a customer's thread.
func (c *replyCache) put(customer, thread string, until time.Time) {
	if thread == "" {
		return
	}
	key := customer + "\x1f" + thread
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.IsZero() {
		delete(s.m, key)
		return
	}
	if _, ok := s.m[key]; !ok && len(s.m) >= c.per {
		for k := range s.m { // evict an arbitrary entry
			delete(s.m, k)
			break
		}
	}
	s.m[key] = until
}
