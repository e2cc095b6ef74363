package prefsapi_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/core/prefsapi"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestOpenAPILintsClean runs Redocly CLI's recommended rules over the
// served document: no errors and no warnings, so that tools (and the
// clients they generate) read the contract as it is meant.
func TestOpenAPILintsClean(t *testing.T) {
	redocly := npmTool(t, ".bin/redocly")
	e := newEnv(t)
	doc := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(doc, []byte(e.must(200, "GET", "/openapi.json", "", "").body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := nodeCmd(t, t.TempDir(), redocly, "lint", "--extends=recommended", "--format=json", doc).Output()
	var res struct {
		Totals struct {
			Errors, Warnings, Ignored int
		}
		Problems []struct {
			RuleID, Message string
			Location        []struct{ Pointer string }
		}
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("redocly lint: %v, output %v\n%s", err, jerr, out)
	}
	for _, p := range res.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s: %s (%s)", where, p.Message, p.RuleID)
	}
	if err != nil || res.Totals.Errors+res.Totals.Warnings+res.Totals.Ignored != 0 {
		t.Fatalf("redocly lint: %v, totals %+v", err, res.Totals)
	}
}

// TestOpenAPINamesEveryOperation: generated clients name their methods
// after operationId, so every operation has a unique one; security is
// declared on each, and only the signed-link pages and the operational
// endpoints are public.
func TestOpenAPINamesEveryOperation(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string              `json:"operationId"`
			Security    *[]map[string][]any `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(prefsapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			route := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", route)
			} else if other, dup := seen[op.OperationID]; dup {
				t.Errorf("%s and %s share the operationId %s", route, other, op.OperationID)
			}
			seen[op.OperationID] = route
			public := !strings.HasPrefix(path, "/v1/")
			switch {
			case op.Security == nil:
				t.Errorf("%s declares no security", route)
			case public && len(*op.Security) != 0:
				t.Errorf("%s is public but declares %v", route, *op.Security)
			case !public && len(*op.Security) == 0:
				t.Errorf("%s needs a bearer token but declares security: []", route)
			}
		}
	}
}

// TestGeneratedClientCallsTheService generates a TypeScript client from the
// running service's /openapi.json with openapi-typescript, type-checks a
// small program against it with tsc --strict (operations are named by
// their operationId), and runs it with openapi-fetch against the service.
func TestGeneratedClientCallsTheService(t *testing.T) {
	gen := npmTool(t, ".bin/openapi-typescript")
	tsc := npmTool(t, ".bin/tsc")
	npmTool(t, "openapi-fetch/package.json")
	e := newEnv(t)

	dir := t.TempDir()
	for _, f := range []string{"client.ts", "tsconfig.json", "package.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "client", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(npmDir(t), "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := nodeCmd(t, dir, name, args...)
		cmd.Env = append(cmd.Env, "HUSH_PREFS_URL="+e.srv.URL, "HUSH_TOKEN="+aliceToken, "HUSH_CUSTOMER=alice")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	run(gen, e.srv.URL+"/openapi.json", "--output", "schema.d.ts")
	run(tsc, "--project", "tsconfig.json")
	out := run("node", "client.js")

	var got struct {
		Mode             string   `json:"mode"`
		OptedOutChannels []string `json:"optedOutChannels"`
		TimeZone         string   `json:"timeZone"`
		ETag             string   `json:"etag"`
		BadStatus        int      `json:"badStatus"`
		BadField         string   `json:"badField"`
		Health           string   `json:"health"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if got.Mode != "MODE_ESSENTIAL_ONLY" || !slices.Equal(got.OptedOutChannels, []string{"sms"}) || got.TimeZone != "Europe/Paris" ||
		got.ETag == "" || got.BadStatus != 400 || got.BadField != "mode" || got.Health != "ok\n" {
		t.Fatalf("the generated client read %+v", got)
	}
	p, v := e.prefsInRedis("alice")
	if p.GetMode() != hushv1.Mode_MODE_ESSENTIAL_ONLY || !slices.Equal(p.GetOptedOutChannels(), []string{"sms"}) || v != 2 {
		t.Fatalf("Redis after the generated client's calls: %v at version %d", p, v)
	}
}
