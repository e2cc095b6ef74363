package main

import (
	encsv "encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestExport exports the golden workload (recorded by a real gatekeeper on
// NATS and Redis) as JSON lines and as CSV: every decision once, the three
// suppressions from the suppression log with their reasons, the six
// approvals from the dispatch stream, no destination or payload; progress
// goes to stderr as plain lines (stderr is no terminal here).
func TestExport(t *testing.T) {
	c := newCLI(t)
	c.decisions()
	out, errOut, err := c.try("export", "--since", "1h", "--format", "jsonl")
	if err != nil {
		t.Fatal(err, errOut)
	}
	rows := map[string]exportRow{}
	for line := range strings.Lines(out) {
		var r exportRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		if _, dup := rows[r.IntentID]; dup {
			t.Errorf("%s exported twice", r.IntentID)
		}
		rows[r.IntentID] = r
	}
	want := map[string]struct{ outcome, rule, source string }{
		"m-1": {"approved", "", "dispatch"}, "m-2": {"approved", "", "dispatch"}, "m-3": {"suppressed", "cap.email-daily", "suppressed"},
		"m-4": {"approved", "", "dispatch"}, "m-5": {"suppressed", "cap.customer-hourly", "suppressed"}, "r-1": {"approved", "", "dispatch"},
		"s-1": {"suppressed", "opt_out.channel", "suppressed"}, "s-2": {"approved", "", "dispatch"}, "c-1": {"approved", "", "dispatch"},
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d:\n%s", len(rows), len(want), out)
	}
	for id, w := range want {
		r := rows[id]
		if r.Outcome != w.outcome || r.Rule != w.rule || r.Source != w.source || r.Seq == 0 || r.PolicyVersion != "golden-1" || r.DecidedAt == "" || r.Sender != "campaigns" {
			t.Errorf("%s: %+v, want %+v", id, r, w)
		}
	}
	if strings.Contains(out, "payload") || strings.Contains(out, "\"destination\"") {
		t.Errorf("the export holds payloads or destinations:\n%s", out)
	}
	wantErr := "export: suppression log: 3 messages\nexport: dispatch stream: 6 messages\nexport: 9 decisions (3 from the suppression log, 6 from the dispatch stream)\n"
	if errOut != wantErr {
		t.Errorf("stderr:\n%q", errOut)
	}

	out = c.run("export", "--since", "1h", "--format", "csv")
	recs, err := encsv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(want) || !slices.Equal(recs[0], exportColumns) {
		t.Fatalf("csv:\n%s", out)
	}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = rec[i]
		}
		j := rows[row["intent_id"]]
		if row["outcome"] != j.Outcome || row["rule"] != j.Rule || row["decided_at"] != j.DecidedAt || row["message"] != j.Message {
			t.Errorf("csv row %v differs from the JSON line %+v", row, j)
		}
	}
	// --until before everything: only the header.
	if out := c.run("export", "--since", "2026-01-01", "--until", "2026-01-02", "--format", "csv"); strings.Count(out, "\n") != 1 {
		t.Errorf("--until: %q", out)
	}
	if _, _, err := c.try("export", "--format", "xml"); err == nil {
		t.Error("--format xml is refused")
	}
}
