package gatekeeper

import (
	"fmt"
	"testing"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func TestPrefsCacheTakesTheStoresAnswerEvenWhenTheVersionWentBack(t *testing.T) {
	c := newPrefsCache(64)
	c.put("c-1", &hushv1.Preferences{Mode: hushv1.Mode_MODE_DO_NOTHING}, 5)
	c.put("c-1", nil, 0) // Redis restored from an older snapshot
	if p, v := c.get("c-1"); p != nil || v != 0 {
		t.Fatalf("got %v at version %d; want the store's answer (none, 0)", p, v)
	}
}

func TestPrefsCacheIsBounded(t *testing.T) {
	c := newPrefsCache(640)
	for i := range 10_000 {
		c.put(fmt.Sprintf("c-%d", i), nil, 1)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > 640 {
		t.Fatalf("cache holds %d customers, bound is 640", n)
	}
	if _, v := c.get("c-9999"); v != 1 {
		t.Errorf("the latest entry was evicted")
	}
}
