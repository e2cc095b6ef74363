package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/policy"
)

func TestDeclaredTopics(t *testing.T) {
	pol, err := policy.Parse("topics.yaml", []byte(`
version: v1
categories:
  transactional: { class: transactional, topics: [order-updates, receipts] }
  marketing:     { class: marketing, topics: [Offers] }
  critical:      { class: critical }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.Topic{{"Offers", "marketing"}, {"order-updates", "transactional"}, {"receipts", "transactional"}}
	if got := pol.Topics(); !slices.Equal(got, want) {
		t.Errorf("Topics() = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		typed, want string
		ok          bool
	}{
		{"order-updates", "order-updates", true},
		{"ORDER-Updates", "order-updates", true},
		{"offers", "Offers", true},
		{"order", "", false},
		{"", "", false},
	} {
		if got, ok := pol.TopicNamed(tc.typed); got != tc.want || ok != tc.ok {
			t.Errorf("TopicNamed(%q) = %q, %v; want %q, %v", tc.typed, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDeclaredTopicsAreChecked(t *testing.T) {
	for _, tc := range []struct{ name, categories, want string }{
		{"duplicate across categories", "{ a: { class: service, topics: [news] }, b: { class: marketing, topics: [News] } }", "declared twice"},
		{"malformed", "{ a: { class: service, topics: [\"two words\"] } }", "a topic is 1-128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse("p.yaml", []byte("version: v1\ncategories: "+tc.categories+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
