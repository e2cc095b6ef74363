package gatekeeper

import (
	"strings"
	"testing"
)

func TestLogSafeMasksWhatInputHeld(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`invalid intent: category: unknown category "+15550109876"`, `invalid intent: category: unknown category "***"`},
		{`undecodable message: proto: (line 1:64): invalid value for string field destination: 15550109876`,
			`undecodable message: proto: (line 1:64): invalid value for string field destination: ***`},
		{`undecodable message: proto: syntax error (line 1:80): unexpected token }`, `undecodable message: proto: syntax error (line 1:80): unexpected token }`},
		{`destination ada@example.com rejected`, `destination *** rejected`},
		{`call +44 7700 900123 now`, `call *** now`},
		{`invalid intent: customer_id: required`, `invalid intent: customer_id: required`},
		{`unknown channel "fax"`, `unknown channel "***"`},
	} {
		if got := logSafe(tc.in); got != tc.want {
			t.Errorf("logSafe(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
		for _, leak := range []string{"15550109876", "ada@example.com", "7700 900123"} {
			if strings.Contains(logSafe(tc.in), leak) {
				t.Errorf("%q leaks %q", logSafe(tc.in), leak)
			}
		}
	}
}
