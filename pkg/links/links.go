// Package links signs and checks the links Hush puts in front of customers:
// RFC 8058 one-click unsubscribe links and preference-centre links. A token
// is its claims (JSON, base64url) and an HMAC-SHA256 over them; it carries
// its own expiry, so nothing is stored per link.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Kind says what a token opens; a token of one kind is refused by the other.
type Kind string

// Token kinds.
const (
	// KindUnsubscribe revokes what the claims name (one-click unsubscribe).
	KindUnsubscribe Kind = "u"
	// KindPreferences opens the customer's preference centre.
	KindPreferences Kind = "p"
)

// Errors of Verify. Both mean "show the customer a polite error page".
var (
	ErrInvalid = errors.New("invalid link")
	ErrExpired = errors.New("link expired")
)

// Claims are what a token says.
type Claims struct {
	Kind     Kind   `json:"k"`
	Customer string `json:"c"`
	// Channel and Category are what an unsubscribe link revokes; either or
	// both may be set.
	Channel  string `json:"ch,omitempty"`
	Category string `json:"cat,omitempty"`
	// Expires is a Unix time in seconds.
	Expires int64 `json:"exp"`
}

// Signer signs tokens with its first key and accepts tokens signed with any
// of its keys, so keys can be rotated: add the new key first, drop the old
// one once its links have expired.
type Signer struct {
	keys [][]byte
}

// NewSigner returns a signer; every key must be at least 32 bytes.
func NewSigner(keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("links: no signing key")
	}
	for i, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("links: key %d is %d bytes, want at least 32", i+1, len(k))
		}
	}
	return &Signer{keys: keys}, nil
}

var b64 = base64.RawURLEncoding

const domain = "hush-link-v1."

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain + payload))
	return m.Sum(nil)
}

// Sign returns a token for c.
func (s *Signer) Sign(c Claims) string {
	body, _ := json.Marshal(c) // plain strings and ints cannot fail
	payload := b64.EncodeToString(body)
	return payload + "." + b64.EncodeToString(mac(s.keys[0], payload))
}

// Verify checks a token's signature, kind and expiry and returns its claims.
func (s *Signer) Verify(token string, kind Kind, now time.Time) (Claims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrInvalid
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	valid := false
	for _, k := range s.keys {
		if hmac.Equal(got, mac(k, payload)) {
			valid = true
			break
		}
	}
	if !valid {
		return Claims{}, ErrInvalid
	}
	body, err := b64.DecodeString(payload)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil || c.Kind != kind || c.Customer == "" {
		return Claims{}, ErrInvalid
	}
	if now.Unix() >= c.Expires {
		return c, ErrExpired
	}
	return c, nil
}

// UnsubscribeURL returns the one-click unsubscribe URL of c under base (the
// preferences service's public URL, e.g. "https://prefs.example.com").
func (s *Signer) UnsubscribeURL(base string, c Claims) string {
	c.Kind = KindUnsubscribe
	return strings.TrimRight(base, "/") + "/u/" + s.Sign(c)
}

// PreferencesURL returns a link to a customer's preference centre, valid
// for ttl.
func (s *Signer) PreferencesURL(base, customer string, ttl time.Duration, now time.Time) string {
	return strings.TrimRight(base, "/") + "/p/" + s.Sign(Claims{Kind: KindPreferences, Customer: customer, Expires: now.Add(ttl).Unix()})
}

// HeaderOptions choose what a List-Unsubscribe link revokes.
type HeaderOptions struct {
	// Channel revokes the intent's whole channel instead of its category.
	Channel bool
	// TTL is how long the link works (90 days when zero).
	TTL time.Duration
	// Now is the signing time (time.Now when zero).
	Now time.Time
}

// ListUnsubscribeHeaders returns the values of the List-Unsubscribe and
// List-Unsubscribe-Post headers (RFC 2369, RFC 8058) for a message sent for
// an intent. By default the link unsubscribes the customer from the intent's
// category (e.g. marketing) only, so receipts on the same channel keep
// flowing.
func (s *Signer) ListUnsubscribeHeaders(base string, it *hushv1.ContactIntent, o HeaderOptions) (listUnsubscribe, listUnsubscribePost string) {
	if o.TTL <= 0 {
		o.TTL = 90 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	c := Claims{Customer: it.GetCustomerId(), Expires: o.Now.Add(o.TTL).Unix()}
	if o.Channel {
		c.Channel = it.GetChannel()
	} else {
		c.Category = it.GetCategory()
	}
	return "<" + s.UnsubscribeURL(base, c) + ">", "List-Unsubscribe=One-Click"
}
