package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hush-oss/hush/internal/platform/config"
)

func noEnv(string) string { return "" }

func TestHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, noEnv, &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("err %v, want ErrHelp", err)
	}
	for _, want := range []string{"$HUSH_NATS_URL", "$HUSH_REDIS_URL", "$HUSH_POLICY", "--workers", "--shutdown-grace"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

func TestABadPolicyRefusesToStartNamingLineAndField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte("version: v1\ncategories:\n  marketing: { class: marketing }\ncaps:\n  - id: x\n    scope: customer\n    window: 1fortnight\n    max: 3\n    classes: [marketing]\n"), 0o644)
	var out bytes.Buffer
	err := run(context.Background(), []string{"--policy", path, "--redis-url", "redis://127.0.0.1:1/0"}, noEnv, &out)
	if err == nil || !strings.Contains(err.Error(), path+":7: caps[0].window") {
		t.Fatalf("err %v; want it to name %s:7 and caps[0].window", err, path)
	}
}

func TestSecretsAreMaskedInTheStartUpLine(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"HUSH_REDIS_URL": "redis://hush:p4ssw0rd@127.0.0.1:1/0", "HUSH_NATS_PASSWORD": "n4ts-s3cret", "HUSH_POLICY": "/nonexistent.yaml"}
	run(context.Background(), nil, func(k string) string { return env[k] }, &out)
	if strings.Contains(out.String(), "p4ssw0rd") || strings.Contains(out.String(), "n4ts-s3cret") {
		t.Fatalf("a secret reached the log:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "redis://hush:***@127.0.0.1:1/0") {
		t.Errorf("start-up line lacks the masked Redis URL:\n%s", out.String())
	}
}
