package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Priority is how much a contact matters when it competes for a cap's
// budget: an intent's own, else its category's, else normal.
type Priority uint8

// Priorities, lowest first. The zero value is "none given".
const (
	PriorityNone Priority = iota
	PriorityLow
	PriorityNormal
	PriorityHigh
	PriorityUrgent
)

var priorityNames = [...]string{"", "low", "normal", "high", "urgent"}

// String is the priority's name on the wire and in the policy file.
func (p Priority) String() string {
	if int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return strconv.Itoa(int(p))
}

// ParsePriority reads a priority's name; "" is PriorityNone.
func ParsePriority(s string) (Priority, bool) {
	for i, n := range priorityNames {
		if n == s {
			return Priority(i), true
		}
	}
	return PriorityNone, false
}

// priorities is the policy's priority configuration: the categories'
// priorities and the arbitration window.
type priorities struct {
	category map[string]Priority
	// arbitration is how long an intent waits for others of its customer
	// to compete with it for the same slots; 0 decides at once.
	arbitration time.Duration
	// used is set when the policy gives any category a priority, reserves
	// budget or arbitrates: decisions then record their priority.
	used bool
}

// PriorityOf is the priority an intent is decided with: its own, else its
// category's, else normal.
func (p *Policy) PriorityOf(it *hushv1.ContactIntent) Priority {
	if pr, ok := ParsePriority(it.GetPriority()); ok && pr != PriorityNone {
		return pr
	}
	if pr := p.prio.category[it.GetCategory()]; pr != PriorityNone {
		return pr
	}
	return PriorityNormal
}

// ArbitrationWindow is how long an intent with caps to check waits for
// others of its customer that compete for the same slots, so that the
// highest priority (then the oldest) takes them; 0 when the policy does not
// arbitrate.
func (p *Policy) ArbitrationWindow() time.Duration { return p.prio.arbitration }

// recordsPriority says whether a decision on the intent names its priority:
// when the intent gives one or the policy uses priorities.
func (p *Policy) recordsPriority(it *hushv1.ContactIntent) bool {
	return p.prio.used || it.GetPriority() != ""
}

// reserveFor is how many of the cap's slots an intent of priority pr may
// not use: the reserved ones, unless its priority is high enough.
func (c *Cap) reserveFor(pr Priority) int {
	if c.Reserve == 0 || pr >= c.ReserveFor {
		return 0
	}
	return c.Reserve
}

// validPriority is the check Validate makes of an intent's priority.
func validPriority(it *hushv1.ContactIntent) error {
	if _, ok := ParsePriority(it.GetPriority()); !ok {
		return invalid("priority", "want low, normal, high or urgent, got %q", it.GetPriority())
	}
	return nil
}

// ReservedMessage is the sentence for a cap whose remaining slots are
// reserved for higher priorities than the intent's, e.g. "3 of 5 marketing
// contacts in the last 7 days, and the other 2 are reserved for priority
// high and above; next allowed for priority low 2026-11-29T10:02Z".
func ReservedMessage(c CapCheck, count int, pr string, next time.Time) string {
	base := CapMessage(c, count, next)
	head, _, _ := strings.Cut(base, "; next allowed")
	return fmt.Sprintf("%s, and the other %d are reserved for priority %s and above; next allowed for priority %s %s",
		head, c.Max-count, c.ReservedFor, orNormal(pr), Stamp(next))
}

// LostMessage is the sentence for an intent that competed for a cap's last
// slots and lost them to a contact ranked before it: of a higher priority,
// or of the same priority and older.
func LostMessage(c CapCheck, count int, winnerPriority, winnerClass string, next time.Time) string {
	base := CapMessage(c, count, next)
	head, _, _ := strings.Cut(base, "; next allowed")
	who := "a contact ranked before it"
	if winnerPriority != "" {
		who = "a priority-" + winnerPriority + " " + classWord(winnerClass) + " contact"
	}
	return fmt.Sprintf("lost to %s: %s; next allowed %s", who, head, Stamp(next))
}

// WaitExceededMessage is the sentence for a cap that defers, whose next
// slot comes after the intent may wait: its deadline, or the cap's maximum
// wait.
func WaitExceededMessage(c CapCheck, count int, pastDeadline bool, next time.Time) string {
	base := CapMessage(c, count, next)
	if pastDeadline {
		return base + ", after the intent's deadline"
	}
	return base + ", beyond the cap's maximum wait of " + HumanWindow(c.MaxWait)
}

// DeferredMessage is the sentence for a cap that defers an intent to the
// instant its window frees a slot.
func DeferredMessage(msg string, next time.Time) string {
	head, _, _ := strings.Cut(msg, "; next allowed")
	return head + "; deferred to " + Stamp(next) + ", when a slot frees"
}

func orNormal(pr string) string {
	if pr == "" {
		return PriorityNormal.String()
	}
	return pr
}

// classWord names a ledger class code in a sentence.
func classWord(code string) string {
	for _, c := range []Class{ClassCritical, ClassTransactional, ClassService, ClassMarketing} {
		if c.Code() == code {
			return string(c)
		}
	}
	return "earlier"
}
