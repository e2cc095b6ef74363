package docs

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/policy"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestPolicyExamplesLoad loads every complete policy (a ```yaml block that
// starts with version: and has categories) in policy.md, so that the
// documented examples stay valid policies.
func TestPolicyExamplesLoad(t *testing.T) {
	data, err := os.ReadFile("policy.md")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range yamlBlock.FindAllSubmatch(data, -1) {
		doc := string(m[1])
		if !strings.HasPrefix(doc, "version:") || !strings.Contains(doc, "\ncategories:") {
			continue
		}
		if _, err := policy.Parse("policy.md example", []byte(doc)); err != nil {
			t.Errorf("example does not load: %v\n%s", err, doc)
		}
		checked++
	}
	if checked == 0 {
		t.Error("no complete policy example found in policy.md")
	}
}

// TestEveryRuleIsDocumented keeps the rule table of policy.md in step with
// the rules the policy package knows.
func TestEveryRuleIsDocumented(t *testing.T) {
	data, err := os.ReadFile("policy.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range policy.RuleIDs {
		if !strings.Contains(string(data), "| `"+id+"` |") {
			t.Errorf("rule %s is not in the table of policy.md", id)
		}
	}
}

// ruleRow is a row of the rules table of policy.md: "| 4 | `consent_revoked` | ...".
var ruleRow = regexp.MustCompile("(?m)^\\| [0-9]+[a-z]? \\| `([^`]+)` \\|")

// TestRulesTableFollowsTheRuleList checks that the rules table of policy.md
// lists exactly the rules of the policy package's rule list, in its order.
func TestRulesTableFollowsTheRuleList(t *testing.T) {
	data, err := os.ReadFile("policy.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, m := range ruleRow.FindAllStringSubmatch(string(data), -1) {
		documented = append(documented, m[1])
	}
	if want := policy.RuleOrder(); !slices.Equal(documented, want) {
		t.Errorf("rules table of policy.md\n got %q\nwant %q (policy.RuleOrder)", documented, want)
	}
}
