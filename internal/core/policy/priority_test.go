package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func TestPriorityPolicyErrors(t *testing.T) {
	const head = "version: v1\ncategories:\n  marketing: { class: marketing }\n"
	cap := func(extra string) string {
		return head + "caps:\n  - { id: a, scope: customer, window: 7d, max: 5, classes: [marketing]" + extra + " }\n"
	}
	cases := []struct{ name, doc, want string }{
		{"unknown category priority", "version: v\ncategories:\n  m: { class: marketing, priority: vip }\n",
			`p.yaml:3: categories.m.priority: want low, normal, high or urgent, got "vip"`},
		{"reserve for an unknown priority", cap(", reserve: { count: 2, for: vip }"), `p.yaml:5: caps[0].reserve.for: want normal, high or urgent, got "vip"`},
		{"reserve for everyone", cap(", reserve: { count: 2, for: low }"), "p.yaml:5: caps[0].reserve.for: a reserve for low and above is for everyone"},
		{"reserve of the whole cap", cap(", reserve: { count: 5, for: high }"), "p.yaml:5: caps[0].reserve.count: want 1 to 4"},
		{"reserve of nothing", cap(", reserve: { count: 0, for: high }"), "p.yaml:5: caps[0].reserve.count: want 1 to 4"},
		{"unknown action", cap(", action: queue"), `p.yaml:5: caps[0].action: want defer or suppress, got "queue"`},
		{"max wait without defer", cap(", max_wait: 2d"), "p.yaml:5: caps[0].max_wait: only a cap whose action is defer waits"},
		{"bad max wait", cap(", action: defer, max_wait: soon"), `caps[0].max_wait: want a positive duration like 90m, 24h or 7d, got "soon"`},
		{"arbitration too long", head + "arbitration: { window: 5s }\n", "p.yaml:4: arbitration.window: at most 2s"},
		{"arbitration not a duration", head + "arbitration: { window: brief }\n", `p.yaml:4: arbitration.window: want a duration like 150ms, got "brief"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestPriorityDecidesTheReserve: the intent's own priority, else its
// category's, else normal, decides whether it may use a cap's reserved
// slots; the decision names it.
func TestPriorityDecidesTheReserve(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte(`version: v
categories:
  marketing: { class: marketing }
  service:   { class: service, priority: high }
arbitration: { window: 150ms }
caps:
  - { id: weekly, scope: customer, window: 7d, max: 5, classes: [service, marketing], reserve: { count: 2, for: high }, action: defer }
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.ArbitrationWindow() != 150*time.Millisecond {
		t.Errorf("arbitration window %v", p.ArbitrationWindow())
	}
	tests := []struct {
		name, category, priority, want string
		reserve                        int
	}{
		{"marketing, no priority: normal", "marketing", "", "normal", 2},
		{"marketing, urgent", "marketing", "urgent", "urgent", 0},
		{"service: its category's high", "service", "", "high", 0},
		{"service, low by choice", "service", "low", "low", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := &hushv1.ContactIntent{Id: "i", CustomerId: "c", Channel: "email", Category: tt.category, Priority: tt.priority,
				Sender: &hushv1.Sender{Service: "s"}}
			if err := p.Validate(it, "email"); err != nil {
				t.Fatal(err)
			}
			v := p.Evaluate(policy.Input{Intent: it, Now: time.Unix(0, 0)})
			if len(v.Caps) != 1 || v.Caps[0].Reserve != tt.reserve || v.Caps[0].ReservedFor != policy.PriorityHigh || v.Caps[0].MaxWait != 7*24*time.Hour {
				t.Errorf("caps %+v, want a reserve of %d and a wait of the window", v.Caps, tt.reserve)
			}
			if d := p.Decision(it, &v, time.Unix(0, 0), ""); d.GetPriority() != tt.want {
				t.Errorf("decision priority %q, want %q", d.GetPriority(), tt.want)
			}
		})
	}
	bad := &hushv1.ContactIntent{Id: "i", CustomerId: "c", Channel: "email", Category: "marketing", Priority: "HIGH", Sender: &hushv1.Sender{Service: "s"}}
	if err := p.Validate(bad, "email"); err == nil || !strings.Contains(err.Error(), `priority: want low, normal, high or urgent, got "HIGH"`) {
		t.Errorf("validate %v", err)
	}
}
