// Package docs holds the project's documentation; its test keeps the
// documented examples true to the wire contract.
package docs

import (
	"os"
	"regexp"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/hush-oss/hush/proto/hush/v1"
)

var jsonBlock = regexp.MustCompile("(?s)```json (hush\\.v1\\.[A-Za-z]+)\n(.*?)```")

// TestExamplesDecode decodes every ```json hush.v1.<Message> block of the
// docs as that message, strictly: a renamed or removed field breaks the
// build, not a reader's integration.
func TestExamplesDecode(t *testing.T) {
	files := []string{"wire-contract.md"}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range jsonBlock.FindAllSubmatch(data, -1) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m[1]))
			if err != nil {
				t.Errorf("%s: unknown message %s", f, m[1])
				continue
			}
			msg := mt.New().Interface()
			if err := protojson.Unmarshal(m[2], msg); err != nil {
				t.Errorf("%s: example %s does not decode: %v", f, m[1], err)
			}
			if proto.Size(msg) == 0 {
				t.Errorf("%s: example %s is empty", f, m[1])
			}
			checked++
		}
	}
	if checked < 6 {
		t.Errorf("checked %d examples; the wire contract documents at least 6", checked)
	}
}
