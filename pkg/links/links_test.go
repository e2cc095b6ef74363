package links_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/pkg/links"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func signer(t *testing.T, keys ...string) *links.Signer {
	t.Helper()
	var bs [][]byte
	for _, k := range keys {
		bs = append(bs, bytes.Repeat([]byte(k), 32))
	}
	s, err := links.NewSigner(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := signer(t, "a")
	good := s.Sign(links.Claims{Kind: links.KindUnsubscribe, Customer: "c-1", Channel: "email", Expires: now.Add(time.Hour).Unix()})
	expired := s.Sign(links.Claims{Kind: links.KindUnsubscribe, Customer: "c-1", Expires: now.Unix()})
	payload, _, _ := strings.Cut(good, ".")
	tests := []struct {
		name  string
		token string
		kind  links.Kind
		check *links.Signer
		want  error
	}{
		{"valid", good, links.KindUnsubscribe, s, nil},
		{"valid after key rotation", good, links.KindUnsubscribe, signer(t, "b", "a"), nil},
		{"other key", good, links.KindUnsubscribe, signer(t, "b"), links.ErrInvalid},
		{"wrong kind", good, links.KindPreferences, s, links.ErrInvalid},
		{"expired", expired, links.KindUnsubscribe, s, links.ErrExpired},
		{"tampered payload", payload + "x." + strings.Split(good, ".")[1], links.KindUnsubscribe, s, links.ErrInvalid},
		{"no signature", payload, links.KindUnsubscribe, s, links.ErrInvalid},
		{"garbage", "%%%.###", links.KindUnsubscribe, s, links.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.check.Verify(tt.token, tt.kind, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if err == nil && (c.Customer != "c-1" || c.Channel != "email") {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func TestShortKeysAreRefused(t *testing.T) {
	if _, err := links.NewSigner([]byte("short")); err == nil {
		t.Fatal("want an error for a 5-byte key")
	}
}

func TestListUnsubscribeHeadersRevokeTheCategoryByDefault(t *testing.T) {
	s := signer(t, "a")
	now := time.Unix(1_800_000_000, 0)
	it := &hushv1.ContactIntent{CustomerId: "c-1", Channel: "email", Category: "marketing"}
	lu, post := s.ListUnsubscribeHeaders("https://prefs.example.com/", it, links.HeaderOptions{Now: now})
	if post != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", post)
	}
	token, ok := strings.CutPrefix(lu, "<https://prefs.example.com/u/")
	if !ok || !strings.HasSuffix(token, ">") {
		t.Fatalf("List-Unsubscribe %q", lu)
	}
	c, err := s.Verify(strings.TrimSuffix(token, ">"), links.KindUnsubscribe, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Category != "marketing" || c.Channel != "" || c.Expires != now.Add(90*24*time.Hour).Unix() {
		t.Errorf("claims %+v; want category marketing for 90 days", c)
	}
	lu, _ = s.ListUnsubscribeHeaders("https://p", it, links.HeaderOptions{Now: now, Channel: true})
	c, _ = s.Verify(strings.TrimSuffix(strings.TrimPrefix(lu, "<https://p/u/"), ">"), links.KindUnsubscribe, now)
	if c.Channel != "email" || c.Category != "" {
		t.Errorf("channel link claims %+v", c)
	}
}
