package prefsapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
)

// TestFrequencyWindowIsBoundedByTheLedger: a customer's maximum frequency
// can name no window the contact ledger does not keep. "1 per 90 days"
// would otherwise be honoured as 1 per 31 days, allowing a contact on day
// 32; the API refuses it, naming the field and the limit.
func TestFrequencyWindowIsBoundedByTheLedger(t *testing.T) {
	e := newEnv(t)
	limit := int64(policy.MaxCustomerWindow / time.Second)
	for _, body := range []string{
		`{"maxFrequency":{"count":1,"window":"7776000s"}}`, // 90 days
		fmt.Sprintf(`{"maxFrequency":{"count":1,"window":"%ds"}}`, limit+1),
	} {
		r := e.do("PATCH", alice+"/preferences", aliceToken, body)
		if r.code != 400 {
			t.Fatalf("%s: %d, want 400: %s", body, r.code, r.body)
		}
		j := r.json(t)
		if j["field"] != "max_frequency.window" || !strings.Contains(fmt.Sprint(j["error"]), "31d") {
			t.Errorf("%s: %s; want the field max_frequency.window and the limit 31d", body, r.body)
		}
	}
	if _, v := e.prefsInRedis("alice"); v != 0 {
		t.Errorf("a refused window changed the preferences (version %d)", v)
	}
	r := e.must(200, "PATCH", alice+"/preferences", aliceToken, fmt.Sprintf(`{"maxFrequency":{"count":1,"window":"%ds"}}`, limit))
	if w := r.prefs(t).GetMaxFrequency().GetWindow().AsDuration(); w != policy.MaxCustomerWindow {
		t.Errorf("window at the limit stored as %v", w)
	}
}
