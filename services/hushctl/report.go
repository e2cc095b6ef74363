package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hush-oss/hush/internal/core/pressure"
)

// pressureFlags are the flags of report pressure.
type pressureFlags struct {
	Since string `conf:"since" default:"30d" help:"the period's start (RFC 3339, a date, or a duration back like 30d)"`
	Until string `conf:"until" help:"the period's end (RFC 3339 or a date; default now)"`
	Limit int    `conf:"limit" default:"20" help:"how many services and agents to list (the top ones)"`
}

// reportPressure prints the over-servicing report: who pushes hardest.
func reportPressure(a *app, args []string) error {
	var f pressureFlags
	if _, err := a.parse(args, 0, 0, &f); err != nil {
		return err
	}
	now := a.now()
	since, until, err := period(f.Since, f.Until, now)
	if err != nil {
		return err
	}
	if until.IsZero() {
		until = now
	}
	if f.Limit <= 0 {
		return fmt.Errorf("--limit %d: want a positive number", f.Limit)
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	r, err := pressure.Read(a.ctx, js, a.subjects(), since, until)
	if err != nil {
		return err
	}
	if a.c.JSON {
		return a.printJSON(r)
	}
	a.showPressure(r, f.Limit)
	return nil
}

func (a *app) showPressure(r *pressure.Report, limit int) {
	prev := "the period before"
	if !r.PreviousComplete {
		prev += " (partly outside the history)"
	}
	fmt.Fprintf(a.stdout, "Who pushes hardest, %s to %s; trend per %s, change against %s\n\n",
		ts(r.Since), ts(r.Until), r.BucketName, prev)
	header := []string{"SERVICE", "TRIED", "APPROVED", "SUPPRESSED", "UNSOLICITED", "CHANGE", "TREND", "SUPPRESSED BY"}
	rows := [][]string{}
	for _, row := range r.Services[:min(limit, len(r.Services))] {
		rows = append(rows, pressureRow(row, row.Service))
	}
	rows = append(rows, pressureRow(&r.Total, "(all)"))
	a.table(header, rows)
	if len(r.Agents) > 0 {
		fmt.Fprintln(a.stdout)
		header[0] = "AGENT"
		rows = rows[:0]
		for _, row := range r.Agents[:min(limit, len(r.Agents))] {
			rows = append(rows, pressureRow(row, row.Agent+" ("+row.Service+")"))
		}
		a.table(header, rows)
	}
	fmt.Fprintln(a.stdout)
	a.fields([][2]string{
		{"Top agents by unsolicited:", ranked(r.TopAgentsUnsolicited)},
		{"Top agents by suppressed:", ranked(r.TopAgentsSuppressed)},
		{"Top services by unsolicited:", ranked(r.TopServicesUnsolicited)},
		{"Top services by suppressed:", ranked(r.TopServicesSuppressed)},
	})
}

func pressureRow(row *pressure.Row, name string) []string {
	change := "-"
	if row.Change != nil {
		change = fmt.Sprintf("%+.0f%%", *row.Change*100)
	}
	return []string{name, strconv.Itoa(row.Tried), strconv.Itoa(row.Approved), strconv.Itoa(row.Suppressed),
		fmt.Sprintf("%d (%.0f%%)", row.Unsolicited, row.UnsolicitedShare*100), change, sparkline(row.Trend), byReason(row.ByReason)}
}

// byReason lists suppressions by reason, most first: "agent_cap 12, opted_out 3".
func byReason(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int {
		if m[x] != m[y] {
			return m[y] - m[x]
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func ranked(rs []pressure.Ranked) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		name := r.Service
		if r.Agent != "" {
			name = r.Agent + " (" + r.Service + ")"
		}
		parts[i] = fmt.Sprintf("%s %d", name, r.Count)
	}
	return strings.Join(parts, ", ")
}

// sparkline draws counts as block characters, scaled to the largest; a
// long series is folded into at most 31 characters.
func sparkline(counts []int) string {
	const bars = "▁▂▃▄▅▆▇█"
	const width = 31
	if len(counts) > width {
		folded := make([]int, width)
		for i, c := range counts {
			folded[i*width/len(counts)] += c
		}
		counts = folded
	}
	hi := slices.Max(counts)
	var b strings.Builder
	for _, c := range counts {
		if c == 0 {
			b.WriteRune('·')
			continue
		}
		b.WriteRune([]rune(bars)[c*7/hi])
	}
	return b.String()
}
