package gatekeeper

import (
	"regexp"
	"strings"
)

var (
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// After "field <name>: " protojson prints the offending value bare.
	fieldValue = regexp.MustCompile(`(field [A-Za-z0-9_.]+: )[^\s,;)]+`)
	// Anything like an address or a phone number that is left.
	address = regexp.MustCompile(`[^\s"':,;()]*@[^\s"':,;()]*`)
	digits  = regexp.MustCompile(`\+?\d[\d\s().-]{5,}\d`)
)

// logSafe renders an error about input for a log line or an advisory: the
// values the input held (quoted strings, a rejected field's value, anything
// like an email address or a phone number) are masked, since bad input may
// carry a destination. The dead letter keeps the full error for people
// allowed to read it.
func logSafe(s string) string {
	s = quoted.ReplaceAllString(s, `"***"`)
	s = fieldValue.ReplaceAllString(s, "${1}***")
	s = address.ReplaceAllString(s, "***")
	s = digits.ReplaceAllString(s, "***")
	return strings.ToValidUTF8(s, "")
}
