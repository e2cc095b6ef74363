package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	policyfiles "github.com/hush-oss/hush/deploy/policy"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestMemoryPerCustomerWithTheDefaultPolicy measures what one customer costs
// in Redis under the default policy after 31 days of two intents a day
// (the ledger's retention), with preferences and an open reply window; the
// decision records of the last 72h (the default retention) are added at
// their measured size. Run with -v to see the numbers. It runs twice: with
// Redis's defaults, and with zset-max-listpack-value 128, under which a
// ledger's members (about 80 bytes) stay in the compact encoding.
func TestMemoryPerCustomerWithTheDefaultPolicy(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"redis defaults", nil},
		{"zset-max-listpack-value 128", []string{"--zset-max-listpack-value", "128"}},
	} {
		t.Run(c.name, func(t *testing.T) { measureMemory(t, c.args) })
	}
}

func measureMemory(t *testing.T, args []string) {
	r := testenv.StartRedis(t, testenv.RedisOptions{Private: true, Args: args})
	st := store.New(r.Client, r.Prefix)
	ctx := context.Background()
	pol, err := policy.Parse(policyfiles.DefaultName, policyfiles.Default)
	if err != nil {
		t.Fatal(err)
	}
	usedMemory := func() int64 {
		info, err := r.Client.Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory in INFO")
		return 0
	}
	usage := func(key string) int64 {
		n, err := r.Client.MemoryUsage(ctx, key, 0).Result() // SAMPLES 0: every element
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return n
	}

	const customers, days, perDay = 200, 31, 2
	start := time.Date(2026, 10, 23, 10, 0, 0, 0, time.UTC) // 10:00 UTC: outside the fallback zone's quiet hours
	before := usedMemory()
	cats := []string{"marketing", "service", "transactional", "survey"}
	var decisions int
	for c := range customers {
		customer := fmt.Sprintf("cust-%08d", c)
		prefs := &hushv1.Preferences{CustomerId: customer, TimeZone: "Europe/London", Region: "GB",
			OptedOutChannels: []string{"sms"}, OptedOutTopics: []string{"partner-offers"},
			MaxFrequency: &hushv1.MaxFrequency{Count: 10, Window: durationpb.New(7 * 24 * time.Hour)}}
		version, _, err := st.SetPreferences(ctx, customer, prefs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.OpenReplyWindow(ctx, customer, "email", "thread-"+customer, start.Add(days*24*time.Hour+7*24*time.Hour), start); err != nil {
			t.Fatal(err)
		}
		for d := range days {
			for k := range perDay {
				it := intent(fmt.Sprintf("%08x-0000-4000-8000-%012x", c, d*perDay+k), customer) // uuid-sized ids
				it.Category = cats[(d+k)%len(cats)]
				it.Sender.Service = "demo" // a producer the default policy lets send transactional contacts
				it.Topic = "topic-" + strconv.Itoa(d%5)
				now := start.Add(time.Duration(d)*24*time.Hour + time.Duration(k)*4*time.Hour)
				if _, _, err := tryDecide(st, pol, it, now, prefs, version); err != nil {
					t.Fatal(err)
				}
				decisions++
			}
		}
	}
	total := usedMemory() - before

	sample := "cust-00000007"
	ledger := usage(st.LedgerKey(sample)) + usage(st.UncappedKey(sample))
	prefsKey, replies := usage(st.PrefsKey(sample)), usage(st.RepliesKey(sample))
	records, err := r.Client.HLen(ctx, st.DecisionsKey(sample)).Result()
	if err != nil || records < 2 {
		t.Fatalf("decision records: %d %v", records, err)
	}
	records-- // the hash's own expiry field
	perDecision := usage(st.DecisionsKey(sample)) / records
	contacts, _ := st.Ledger(ctx, sample, start)
	recent := int64(perDay * 3) // decisions kept for 72h at two a day
	steady := ledger + prefsKey + replies + recent*perDecision
	t.Logf("per customer (MEMORY USAGE): ledgers (capped + uncapped) %d B for %d contacts, preferences %d B, reply windows %d B, decision record %d B each",
		ledger, len(contacts), prefsKey, replies, perDecision)
	t.Logf("per customer at steady state (ledger + preferences + reply window + %d decision records of the last 72h): %d B", recent, steady)
	t.Logf("INFO used_memory grew %d B for %d customers and %d decision records: %d B per customer with all %d records",
		total, customers, decisions, total/customers, decisions/customers)
	if steady > 16<<10 {
		t.Errorf("a customer costs %d B at steady state; more than 16 KiB means the ledger or records grew", steady)
	}
}
