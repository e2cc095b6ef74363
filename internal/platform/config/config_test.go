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

// Shared settings, as a binary embeds them.
type Conn struct {
	URL      string `conf:"nats-url" default:"nats://127.0.0.1:4222" help:"NATS server URL"`
	Password string `conf:"nats-password" secret:"true" help:"NATS password"`
	Inbox    string `conf:"nats-inbox-prefix" help:"reply prefix"`
}

type Store struct {
	RedisURL string `conf:"redis-url" default:"redis://127.0.0.1:6379/0" help:"Redis URL"`
}

// Outer embeds Conn with a default and help of its own, and embeds a
// struct that itself embeds one.
type Outer struct {
	Conn    `default.nats-inbox-prefix:"_HUSH_INBOX.svc" help.nats-inbox-prefix:"the service's own prefix"`
	Nested  `help.redis-url:"outer help wins"`
	Workers int `conf:"workers" default:"4" help:"workers"`
}

type Nested struct {
	Store `help.redis-url:"inner help"`
}

func TestEmbeddedStructsAreSettingsInPlace(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Outer
	}{
		{"defaults, with the embedding field's own", nil, nil,
			Outer{Conn: Conn{URL: "nats://127.0.0.1:4222", Inbox: "_HUSH_INBOX.svc"}, Nested: Nested{Store{RedisURL: "redis://127.0.0.1:6379/0"}}, Workers: 4}},
		{"environment", nil, map[string]string{"HUSH_NATS_URL": "nats://n:4222", "HUSH_REDIS_URL": "redis://r:6379/1", "HUSH_NATS_INBOX_PREFIX": "_X"},
			Outer{Conn: Conn{URL: "nats://n:4222", Inbox: "_X"}, Nested: Nested{Store{RedisURL: "redis://r:6379/1"}}, Workers: 4}},
		{"flags win", []string{"--nats-url", "nats://f:4222", "--redis-url=redis://f:6379/2", "--nats-password", "pw", "--workers", "9"},
			map[string]string{"HUSH_NATS_URL": "nats://n:4222"},
			Outer{Conn: Conn{URL: "nats://f:4222", Password: "pw", Inbox: "_HUSH_INBOX.svc"}, Nested: Nested{Store{RedisURL: "redis://f:6379/2"}}, Workers: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Outer
			if err := config.Parse("HUSH", &got, tt.args, env(tt.env), &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEmbeddedStructsInHelpAndLog(t *testing.T) {
	var s Outer
	var out bytes.Buffer
	if err := config.Parse("HUSH", &s, []string{"--help"}, env(nil), &out); !errors.Is(err, config.ErrHelp) {
		t.Fatalf("err %v, want ErrHelp", err)
	}
	help := out.String()
	for _, want := range []string{"--nats-url", "$HUSH_NATS_URL", "default _HUSH_INBOX.svc", "the service's own prefix", "--redis-url", "outer help wins", "--workers"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "inner help") || strings.Contains(help, "reply prefix") {
		t.Errorf("help shows a text the embedding field replaced:\n%s", help)
	}
	if strings.Index(help, "--nats-url") > strings.Index(help, "--redis-url") || strings.Index(help, "--redis-url") > strings.Index(help, "--workers") {
		t.Errorf("settings out of declaration order:\n%s", help)
	}

	s = Outer{Conn: Conn{URL: "nats://u:n4tspw@n:4222", Password: "s3cret"}, Nested: Nested{Store{RedisURL: "redis://:r3dispw@r:6379/0"}}}
	got := config.String("HUSH", &s)
	for _, secret := range []string{"n4tspw", "s3cret", "r3dispw"} {
		if strings.Contains(got, secret) {
			t.Errorf("secret %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "nats-password=***") || !strings.Contains(got, "redis-url=redis://:***@r:6379/0") {
		t.Errorf("got %q", got)
	}
}

type twice struct {
	Conn
	Again string `conf:"nats-url" help:"a second nats-url"`
}

type unexportedEmbed struct {
	conn
}

type conn struct {
	URL string `conf:"nats-url"`
}

type pointerEmbed struct {
	*Conn
}

func TestEmbeddedStructMistakesAreErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  any
		want string
	}{
		{"a setting declared twice", &twice{}, "--nats-url is declared twice"},
		{"an unexported embedded type", &unexportedEmbed{}, "must be exported"},
		{"an embedded pointer", &pointerEmbed{}, "not a pointer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := config.Parse("HUSH", tt.cfg, nil, env(nil), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
}
