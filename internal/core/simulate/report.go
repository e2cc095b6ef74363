package simulate

import (
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Report is what a simulation found: how the candidate policy would have
// decided the period's intents differently from the baseline, both replayed
// from the same recorded intents, each with a private ledger.
type Report struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until,omitzero"`
	// WarmUpFrom is where the replay began: intents before Since are
	// replayed to fill the ledgers (the longest window back), and not
	// reported.
	WarmUpFrom time.Time `json:"warm_up_from"`
	// Oldest is the time of the oldest intent the stream holds (zero when
	// it holds none); after WarmUpFrom, the ledgers started emptier than
	// they were, and the first windows may undercount.
	Oldest    time.Time `json:"oldest_intent,omitzero"`
	Baseline  PolicyRef `json:"baseline"`
	Candidate PolicyRef `json:"candidate"`
	// Earlier are the baseline's earlier versions, each in force from its
	// From (Baseline.From says when the last one took over).
	Earlier []PolicyRef `json:"baseline_earlier,omitempty"`
	// Intents is the number of intents decided in the period; WarmUp those
	// replayed before it; Duplicates the republishes skipped (the first
	// decision stands); Undecodable those neither policy can read.
	Intents     int `json:"intents"`
	WarmUp      int `json:"warm_up"`
	Duplicates  int `json:"duplicates"`
	Undecodable int `json:"undecodable"`
	// BaselineOutcomes and CandidateOutcomes count outcomes by name.
	BaselineOutcomes  map[string]int `json:"baseline_outcomes"`
	CandidateOutcomes map[string]int `json:"candidate_outcomes"`
	// Changed counts the intents whose outcome differs; Transitions them
	// by "<baseline>→<candidate>" outcome.
	Changed     int            `json:"changed"`
	Transitions map[string]int `json:"transitions"`
	// ApprovedToSuppressed counts intents the baseline approves and the
	// candidate does not (suppressed, deferred or invalid);
	// SuppressedToApproved the reverse.
	ApprovedToSuppressed int `json:"approved_to_suppressed"`
	SuppressedToApproved int `json:"suppressed_to_approved"`
	// ByRule, ByReason, BySender and ByCategory break the two down: by the
	// rule and reason that decided the intent under the policy that held
	// it back (the candidate for approved→suppressed, the baseline for the
	// reverse), by the sending service and by the category.
	ByRule     map[string]*Diff `json:"by_rule"`
	ByReason   map[string]*Diff `json:"by_reason"`
	BySender   map[string]*Diff `json:"by_sender"`
	ByCategory map[string]*Diff `json:"by_category"`
	// Examples are the first changed intents of each direction.
	Examples []Example `json:"examples"`
	// Recorded compares the baseline's replay with the decisions the
	// gatekeepers recorded; nil when not asked for.
	Recorded *Recorded `json:"recorded,omitempty"`
	// Elapsed is how long the replay of the intents stream took, and
	// PerSecond how many intents (warm-up included) it replayed a second.
	Elapsed   Duration `json:"elapsed"`
	PerSecond float64  `json:"intents_per_second"`
}

// PolicyRef names a policy and where it came from.
type PolicyRef struct {
	Version string    `json:"version"`
	Source  string    `json:"source,omitempty"`
	From    time.Time `json:"from,omitzero"`
}

// Diff counts the changes of one rule, reason, sender or category.
type Diff struct {
	ApprovedToSuppressed int `json:"approved_to_suppressed"`
	SuppressedToApproved int `json:"suppressed_to_approved"`
}

// Example is one intent whose outcome changes.
type Example struct {
	IntentID  string    `json:"intent_id"`
	Customer  string    `json:"customer_id"`
	Category  string    `json:"category"`
	Sender    string    `json:"sender"`
	At        time.Time `json:"at"`
	Baseline  string    `json:"baseline"`
	Candidate string    `json:"candidate"`
	// Rule and Reason are the deciding rule's under the policy that holds
	// the intent back; Message its sentence.
	Rule    string `json:"rule"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Recorded compares the baseline's replay with the recorded decisions (the
// first outcome the dispatch stream or the suppression log holds for each
// intent of the period).
type Recorded struct {
	// Compared intents had a recorded decision; Agree of them the
	// baseline decides the same way; Missing had none (its outcome was not
	// published, or the log no longer holds it).
	Compared int `json:"compared"`
	Agree    int `json:"agree"`
	Differ   int `json:"differ"`
	Missing  int `json:"missing"`
	// OtherVersions counts recorded decisions made by another policy
	// version than the baseline's version in force at their time.
	OtherVersions int `json:"other_versions"`
	// Examples are the first intents decided differently.
	Examples []RecordedExample `json:"examples,omitempty"`
}

// RecordedExample is an intent the baseline replay decides otherwise than
// the gatekeeper did.
type RecordedExample struct {
	IntentID string `json:"intent_id"`
	Recorded string `json:"recorded"`
	Version  string `json:"recorded_policy_version"`
	Baseline string `json:"baseline"`
}

// Duration is a time.Duration that reads as "1.5s" in JSON.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// String is the duration as time.Duration.String says it.
func (d Duration) String() string { return time.Duration(d).String() }

func newReport() *Report {
	return &Report{BaselineOutcomes: map[string]int{}, CandidateOutcomes: map[string]int{}, Transitions: map[string]int{},
		ByRule: map[string]*Diff{}, ByReason: map[string]*Diff{}, BySender: map[string]*Diff{}, ByCategory: map[string]*Diff{}}
}

// add counts one intent of the period decided by both policies.
func (r *Report) add(it *hushv1.ContactIntent, at time.Time, base, cand *Result, examples int) {
	r.Intents++
	bo, co := policy.ShortOutcome(base.Outcome), policy.ShortOutcome(cand.Outcome)
	r.BaselineOutcomes[bo]++
	r.CandidateOutcomes[co]++
	if bo == co {
		return
	}
	r.Changed++
	r.Transitions[bo+"→"+co]++
	var held *Result
	var count func(*Diff)
	switch {
	case base.Outcome == hushv1.Outcome_OUTCOME_APPROVED:
		r.ApprovedToSuppressed++
		held, count = cand, func(d *Diff) { d.ApprovedToSuppressed++ }
	case cand.Outcome == hushv1.Outcome_OUTCOME_APPROVED:
		r.SuppressedToApproved++
		held, count = base, func(d *Diff) { d.SuppressedToApproved++ }
	default:
		return // held back either way, otherwise (suppressed→deferred): in Transitions only
	}
	reason := policy.ShortCode(held.Reason.Code)
	for _, k := range []struct {
		m   map[string]*Diff
		key string
	}{{r.ByRule, held.Reason.Rule}, {r.ByReason, reason}, {r.BySender, it.GetSender().GetService()}, {r.ByCategory, it.GetCategory()}} {
		d := k.m[k.key]
		if d == nil {
			d = new(Diff)
			k.m[k.key] = d
		}
		count(d)
	}
	n := r.ApprovedToSuppressed
	if held == base {
		n = r.SuppressedToApproved
	}
	if n <= examples {
		r.Examples = append(r.Examples, Example{IntentID: it.GetId(), Customer: it.GetCustomerId(), Category: it.GetCategory(),
			Sender: it.GetSender().GetService(), At: at.UTC(), Baseline: bo, Candidate: co,
			Rule: held.Reason.Rule, Reason: reason, Message: held.Message()})
	}
}
