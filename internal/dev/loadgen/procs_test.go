package loadgen

import (
	"os"
	"testing"
)

func TestParseStatCPUReadsUtimeAndStimeAfterAnOddCommandName(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	stat := "4242 (gate keeper) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3.0 {
		t.Fatalf("parseStatCPU = %v, %v; want 3s (300 ticks)", got, err)
	}
	if _, err := parseStatCPU("4242 (short) S 1 2"); err == nil {
		t.Error("a truncated stat line was accepted")
	}
	if s, err := procCPU(os.Getpid()); err != nil || s < 0 {
		t.Errorf("procCPU(self) = %v, %v", s, err)
	}
}
