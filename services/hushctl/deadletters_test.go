package main

import "testing"

// Go's protobuf errors put a space or a no-break space after "proto:",
// chosen per build; the list must read the same either way.
func TestDeadLetterErrorReadsTheSameWhicheverSpaceProtobufChose(t *testing.T) {
	const plain = "undecodable message: proto: cannot parse invalid wire-format data"
	nbsp := "undecodable message: proto:\u00a0cannot parse invalid wire-format data"
	want := "undecodable message: proto: cannot parse invalid wire-format…"
	for _, in := range []string{plain, nbsp} {
		if got := truncate(plainSpaces(in), 60); got != want {
			t.Errorf("%q shows as %q, want %q", in, got, want)
		}
	}
	if got := truncate("ééé", 2); got != "éé…" {
		t.Errorf("truncate cuts inside a character: %q", got)
	}
}
