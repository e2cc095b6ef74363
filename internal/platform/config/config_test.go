package config_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/platform/config"
)

type settings struct {
	URL      string        `conf:"redis-url" default:"redis://127.0.0.1:6379/0" help:"Redis URL"`
	Token    string        `conf:"token" secret:"true" help:"bearer token"`
	Workers  int           `conf:"workers" default:"64" help:"workers"`
	Wait     time.Duration `conf:"ack-wait" default:"30s" help:"ack wait"`
	JSON     bool          `conf:"json" help:"print JSON"`
	Fraction float64       `conf:"fraction" default:"0.5" help:"a fraction"`
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedenceDefaultsThenEnvThenFlags(t *testing.T) {
	var s settings
	err := config.Parse("HUSH", &s, []string{"--workers", "8", "--json"},
		env(map[string]string{"HUSH_WORKERS": "16", "HUSH_ACK_WAIT": "5s", "HUSH_TOKEN": "s3cret"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := settings{URL: "redis://127.0.0.1:6379/0", Token: "s3cret", Workers: 8, Wait: 5 * time.Second, JSON: true, Fraction: 0.5}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
}

func TestErrorsNameTheSettingAtFault(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env duration", nil, map[string]string{"HUSH_ACK_WAIT": "soon"}, "HUSH_ACK_WAIT"},
		{"bad flag number", []string{"--workers", "many"}, nil, "workers"},
		{"unknown flag", []string{"--wrokers", "2"}, nil, "wrokers"},
		{"stray argument", []string{"extra"}, nil, `"extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			err := config.Parse("HUSH", &s, tt.args, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestHelpListsEveryFlagAndVariable(t *testing.T) {
	var s settings
	var out bytes.Buffer
	err := config.Parse("HUSH", &s, []string{"--help"}, env(nil), &out)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("err %v, want ErrHelp", err)
	}
	for _, want := range []string{"--redis-url", "$HUSH_REDIS_URL", "--ack-wait", "default 30s", "--token", "bearer token"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestStringMasksSecretsAndURLPasswords(t *testing.T) {
	s := settings{URL: "redis://hush:p4ssw0rd@redis:6379/0", Token: "s3cret"}
	got := config.String("HUSH", &s)
	if strings.Contains(got, "p4ssw0rd") || strings.Contains(got, "s3cret") {
		t.Fatalf("secret in %q", got)
	}
	if !strings.Contains(got, "redis://hush:***@redis:6379/0") || !strings.Contains(got, "token=***") {
		t.Errorf("got %q", got)
	}
}
