package policy

import (
	"strings"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var shortCodes = func() map[hushv1.ReasonCode]string {
	m := make(map[hushv1.ReasonCode]string, len(hushv1.ReasonCode_name))
	for n, name := range hushv1.ReasonCode_name {
		m[hushv1.ReasonCode(n)] = strings.ToLower(strings.TrimPrefix(name, "REASON_CODE_"))
	}
	return m
}()

// ShortCode is a reason code as logs, metrics and people say it:
// REASON_CODE_FREQUENCY_CAP is "frequency_cap".
func ShortCode(c hushv1.ReasonCode) string { return shortCodes[c] }

// ShortOutcome is an outcome as logs and metrics say it: "approved".
func ShortOutcome(o hushv1.Outcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "OUTCOME_"))
}
