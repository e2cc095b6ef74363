package prefsapi

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Scopes a token can carry.
const (
	// ScopeAdmin may do everything.
	ScopeAdmin = "admin"
	// ScopeStaff may read any customer's preferences, set and clear care
	// holds and record inbound contacts.
	ScopeStaff = "staff"
	// ScopeCustomerPrefix + id may read and change that customer's own
	// record, and nothing else.
	ScopeCustomerPrefix = "customer:"
)

// Principal is who a request acts as.
type Principal struct {
	// Subject names the token's holder; it is the actor of every change.
	Subject string
	Scopes  []string
}

func (p *Principal) has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Admin reports whether p may do everything.
func (p *Principal) Admin() bool { return p.has(ScopeAdmin) }

// Staff reports whether p is staff (or admin).
func (p *Principal) Staff() bool { return p.Admin() || p.has(ScopeStaff) }

// Owns reports whether p may change customer's record.
func (p *Principal) Owns(customer string) bool {
	return p.Admin() || p.has(ScopeCustomerPrefix+customer)
}

// CanRead reports whether p may read customer's record.
func (p *Principal) CanRead(customer string) bool { return p.Owns(customer) || p.Staff() }

// Tokens maps bearer tokens to principals. Only SHA-256 hashes of the tokens
// are kept in memory.
type Tokens struct {
	byHash map[[32]byte]*Principal
}

// ParseTokens reads token lines: "<subject> <token> <scope> [<scope>...]",
// blank lines and lines starting with # ignored; ";" also ends a line, so
// the list fits in one environment variable. Tokens must be at least 16
// characters.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{byHash: map[[32]byte]*Principal{}}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		for _, line := range strings.Split(sc.Text(), ";") {
			n++
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			if len(f) < 3 {
				return nil, fmt.Errorf("tokens entry %d: want a subject, a token and one or more scopes", n)
			}
			if len(f[1]) < 16 {
				return nil, fmt.Errorf("tokens entry %d (%s): token shorter than 16 characters", n, f[0])
			}
			for _, s := range f[2:] {
				if s != ScopeAdmin && s != ScopeStaff && (!strings.HasPrefix(s, ScopeCustomerPrefix) || s == ScopeCustomerPrefix) &&
					(!strings.HasPrefix(s, ScopeProducerPrefix) || s == ScopeProducerPrefix) {
					return nil, fmt.Errorf("tokens entry %d (%s): unknown scope %q (want admin, staff, customer:<id> or producer:<name>)", n, f[0], s)
				}
			}
			h := sha256.Sum256([]byte(f[1]))
			if _, dup := t.byHash[h]; dup {
				return nil, fmt.Errorf("tokens entry %d (%s): token used twice", n, f[0])
			}
			t.byHash[h] = &Principal{Subject: f[0], Scopes: f[2:]}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	return t, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.byHash) }

// authenticate returns the principal of a request's bearer token, or nil.
func (t *Tokens) authenticate(r *http.Request) *Principal {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil
	}
	return t.byHash[sha256.Sum256([]byte(strings.TrimSpace(tok)))]
}
