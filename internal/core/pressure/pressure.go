// Package pressure is the over-servicing report: per sending service and
// per agent, how many contacts were tried, approved and suppressed (by
// reason), the share that was unsolicited, and the trend, read from the
// contact history (bus.StreamHistory).
package pressure

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Attempt is one decided intent as the report counts it.
type Attempt struct {
	At          time.Time
	Service     string
	Agent       string // "" for a system contact
	Outcome     hushv1.Outcome
	Reason      string // short reason code; "" when approved
	Unsolicited bool
}

// AttemptOf reads an attempt from a history record and its unsolicited
// header value.
func AttemptOf(rec *hushv1.SuppressionRecord, unsolicited bool) Attempt {
	d, it := rec.GetDecision(), rec.GetIntent()
	a := Attempt{At: d.GetDecidedAt().AsTime(), Service: it.GetSender().GetService(), Agent: it.GetSender().GetAgentId(),
		Outcome: d.GetOutcome(), Unsolicited: unsolicited}
	if a.Service == "" {
		a.Service = "unknown"
	}
	if rs := d.GetReasons(); len(rs) > 0 {
		a.Reason = policy.ShortCode(rs[0].GetCode())
	}
	return a
}

// Row is one service's or one agent's pressure over the period.
type Row struct {
	Service string `json:"service"`
	// Agent is set on agent rows.
	Agent      string `json:"agent,omitempty"`
	Tried      int    `json:"tried"`
	Approved   int    `json:"approved"`
	Suppressed int    `json:"suppressed"`
	// ByReason counts suppressions by reason code.
	ByReason    map[string]int `json:"suppressed_by_reason"`
	Unsolicited int            `json:"unsolicited"`
	// UnsolicitedShare is Unsolicited / Tried, 0..1.
	UnsolicitedShare float64 `json:"unsolicited_share"`
	// Trend is Tried per bucket of the period, oldest first.
	Trend []int `json:"trend"`
	// PreviousTried is Tried over the period of the same length just
	// before; Change is (Tried - PreviousTried) / PreviousTried, absent
	// when nothing was tried before.
	PreviousTried int      `json:"previous_tried"`
	Change        *float64 `json:"change,omitempty"`
}

// Ranked is a row's name and the count it is ranked by.
type Ranked struct {
	Service string `json:"service"`
	Agent   string `json:"agent,omitempty"`
	Count   int    `json:"count"`
}

// Report is the over-servicing report over [Since, Until).
type Report struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Bucket is the trend's bucket: a day, or an hour for periods under
	// two days.
	Bucket time.Duration `json:"-"`
	// BucketName is "day" or "hour".
	BucketName string `json:"bucket"`
	// PreviousComplete says whether the history reaches back over the
	// whole previous period; when not, the changes compare with less.
	PreviousComplete bool   `json:"previous_complete"`
	Total            Row    `json:"total"`
	Services         []*Row `json:"services"`
	Agents           []*Row `json:"agents"`
	// The top agents and services by unsolicited and by suppressed
	// attempts (at most TopN each, none with a zero count).
	TopAgentsUnsolicited   []Ranked `json:"top_agents_unsolicited"`
	TopAgentsSuppressed    []Ranked `json:"top_agents_suppressed"`
	TopServicesUnsolicited []Ranked `json:"top_services_unsolicited"`
	TopServicesSuppressed  []Ranked `json:"top_services_suppressed"`
}

// TopN is how many the top lists name.
const TopN = 5

// Builder aggregates attempts into a Report.
type Builder struct {
	r        *Report
	services map[string]*Row
	agents   map[[2]string]*Row
}

// NewBuilder starts a report over [since, until).
func NewBuilder(since, until time.Time) *Builder {
	bucket := 24 * time.Hour
	name := "day"
	if until.Sub(since) < 48*time.Hour {
		bucket, name = time.Hour, "hour"
	}
	r := &Report{Since: since.UTC(), Until: until.UTC(), Bucket: bucket, BucketName: name}
	r.Total = *r.newRow("", "")
	return &Builder{r: r, services: map[string]*Row{}, agents: map[[2]string]*Row{}}
}

// PreviousSince is where the previous period starts: as long before since
// as the period is long.
func (b *Builder) PreviousSince() time.Time { return b.r.Since.Add(-b.r.Until.Sub(b.r.Since)) }

func (r *Report) newRow(service, agent string) *Row {
	n := int(math.Ceil(float64(r.Until.Sub(r.Since)) / float64(r.Bucket)))
	return &Row{Service: service, Agent: agent, ByReason: map[string]int{}, Trend: make([]int, max(n, 1))}
}

// Add counts one attempt: in the period, in the previous period, or not
// at all when it is outside both.
func (b *Builder) Add(a Attempt) {
	r := b.r
	if a.At.Before(b.PreviousSince()) || !a.At.Before(r.Until) {
		return
	}
	rows := []*Row{&r.Total, b.service(a.Service)}
	if a.Agent != "" {
		rows = append(rows, b.agent(a.Service, a.Agent))
	}
	if a.At.Before(r.Since) {
		for _, row := range rows {
			row.PreviousTried++
		}
		return
	}
	i := int(a.At.Sub(r.Since) / r.Bucket)
	for _, row := range rows {
		row.Tried++
		row.Trend[min(i, len(row.Trend)-1)]++
		switch a.Outcome {
		case hushv1.Outcome_OUTCOME_APPROVED:
			row.Approved++
		default:
			row.Suppressed++
			row.ByReason[cmp.Or(a.Reason, "unknown")]++
		}
		if a.Unsolicited {
			row.Unsolicited++
		}
	}
}

func (b *Builder) service(s string) *Row {
	row := b.services[s]
	if row == nil {
		row = b.r.newRow(s, "")
		b.services[s] = row
	}
	return row
}

func (b *Builder) agent(s, a string) *Row {
	k := [2]string{s, a}
	row := b.agents[k]
	if row == nil {
		row = b.r.newRow(s, a)
		b.agents[k] = row
	}
	return row
}

// Report finishes the report. Rows that tried nothing in the period (only
// before it) are kept: a service that stopped pushing shows as -100%.
// Services and agents are ordered by unsolicited attempts, then suppressed,
// then tried, then name.
func (b *Builder) Report(previousComplete bool) *Report {
	r := b.r
	r.PreviousComplete = previousComplete
	finish := func(row *Row) {
		if row.Tried > 0 {
			row.UnsolicitedShare = float64(row.Unsolicited) / float64(row.Tried)
		}
		if row.PreviousTried > 0 {
			c := float64(row.Tried-row.PreviousTried) / float64(row.PreviousTried)
			row.Change = &c
		}
	}
	finish(&r.Total)
	r.Services, r.Agents = []*Row{}, []*Row{}
	for _, row := range b.services {
		finish(row)
		r.Services = append(r.Services, row)
	}
	for _, row := range b.agents {
		finish(row)
		r.Agents = append(r.Agents, row)
	}
	order := func(a, b *Row) int {
		return cmp.Or(cmp.Compare(b.Unsolicited, a.Unsolicited), cmp.Compare(b.Suppressed, a.Suppressed),
			cmp.Compare(b.Tried, a.Tried), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Agent, b.Agent))
	}
	slices.SortFunc(r.Services, order)
	slices.SortFunc(r.Agents, order)
	r.TopAgentsUnsolicited = top(r.Agents, func(r *Row) int { return r.Unsolicited })
	r.TopAgentsSuppressed = top(r.Agents, func(r *Row) int { return r.Suppressed })
	r.TopServicesUnsolicited = top(r.Services, func(r *Row) int { return r.Unsolicited })
	r.TopServicesSuppressed = top(r.Services, func(r *Row) int { return r.Suppressed })
	return r
}

func top(rows []*Row, by func(*Row) int) []Ranked {
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b *Row) int { return cmp.Compare(by(b), by(a)) })
	out := []Ranked{}
	for _, row := range sorted {
		if len(out) == TopN || by(row) == 0 {
			break
		}
		out = append(out, Ranked{Service: row.Service, Agent: row.Agent, Count: by(row)})
	}
	return out
}
