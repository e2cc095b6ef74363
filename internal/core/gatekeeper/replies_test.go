package gatekeeper

import (
	"fmt"
	"testing"
	"time"
)

func TestReplyCacheRemembersTheStoresAnswerPerThread(t *testing.T) {
	c := newReplyCache(32)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if got := c.get("c-1", "t-1"); !got.IsZero() {
		t.Fatalf("empty cache answered %v", got)
	}
	c.put("c-1", "t-1", at)
	if got := c.get("c-1", "t-1"); !got.Equal(at) {
		t.Errorf("got %v, want %v", got, at)
	}
	if got := c.get("c-2", "t-1"); !got.IsZero() {
		t.Errorf("another customer's thread answered %v", got)
	}
	if got := c.get("c-1", ""); !got.IsZero() {
		t.Errorf("no thread answered %v", got)
	}
	c.put("c-1", "t-1", time.Time{}) // the store has no window (any more)
	if got := c.get("c-1", "t-1"); !got.IsZero() {
		t.Errorf("a window the store forgot is still cached: %v", got)
	}
	for i := range 1000 {
		c.put(fmt.Sprint("c-", i), "t", at)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > 32 {
		t.Errorf("cache holds %d entries, bounded at 32", n)
	}
}
