package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestADuplicateWindowShorterThanTheRedeliveriesRefusesToStart: every
// redelivery of an intent must fall inside the duplicate window, which
// drops its republished outcome.
func TestADuplicateWindowShorterThanTheRedeliveriesRefusesToStart(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--duplicate-window", "2m", "--max-deliver", "10", "--ack-wait", "30s"}, noEnv, &out)
	if err == nil || !strings.Contains(err.Error(), "--duplicate-window") || !strings.Contains(err.Error(), "5m0s") {
		t.Fatalf("err %v; want --duplicate-window refused, naming the 5m0s of redeliveries", err)
	}
}
