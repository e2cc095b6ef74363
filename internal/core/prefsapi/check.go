package prefsapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// ScopeProducerPrefix + name may ask "may I contact?" (POST /v1/check) as
// that producer: the check treats the token's holder as the producer whose
// credential would publish the intents, exactly as NATS does for
// hush.check.<producer>.
const ScopeProducerPrefix = "producer:"

// Checker answers "may I contact?"; *store.Store is one.
type Checker interface {
	Check(ctx context.Context, o store.CheckOptions, its []*hushv1.ContactIntent) ([]*hushv1.CheckAnswer, error)
}

// DefaultMaxCheckBody bounds a check's request body: room for a campaign of
// 100,000 intents in JSON.
const DefaultMaxCheckBody = 64 << 20

// MaxCheckIntents is the most intents one check may ask about.
const MaxCheckIntents = 100_000

// contentTypeProtobufAlt is the other name clients give binary protobuf.
const contentTypeProtobufAlt = "application/x-protobuf"

// producer returns the producer a token speaks for, "" when none.
func (p *Principal) producer() string {
	for _, s := range p.Scopes {
		if name, ok := strings.CutPrefix(s, ScopeProducerPrefix); ok {
			return name
		}
	}
	return ""
}

// postCheck answers POST /v1/check: a hush.v1.CheckRequest in JSON
// (protojson) or binary protobuf, answered in the same encoding with a
// hush.v1.CheckResponse. It counts nothing (store.Check). A producer token
// asks as its producer; an admin token vouches for each intent's
// sender.service itself.
func (s *Server) postCheck(w http.ResponseWriter, r *http.Request) {
	who := s.o.Tokens.authenticate(r)
	if who == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hush"`)
		fail(w, http.StatusUnauthorized, "missing or unknown bearer token")
		return
	}
	var pub *policy.Publisher
	switch name := who.producer(); {
	case name != "":
		pub = &policy.Publisher{Subject: "POST /v1/check", Producer: name}
	case !who.Admin():
		forbidden(w, "ask a check (it needs a producer:<name> scope)")
		return
	}
	binary := protobufBody(r.Header.Get("Content-Type"))
	limit := s.o.MaxCheckBody
	if limit <= 0 {
		limit = DefaultMaxCheckBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	var in hushv1.CheckRequest
	if binary {
		err = proto.Unmarshal(body, &in)
	} else {
		err = prefsIn.Unmarshal(body, &in)
	}
	if err != nil {
		s.failErr(w, r, badField("intents", "decode hush.v1.CheckRequest: %v", err))
		return
	}
	if n := len(in.GetIntents()); n > MaxCheckIntents {
		s.failErr(w, r, badField("intents", "%d intents; at most %d in one check", n, MaxCheckIntents))
		return
	}
	pol := s.o.Policy
	if s.o.CheckPolicy != nil {
		pol = s.o.CheckPolicy(r.Context())
	}
	answers, err := s.o.Checker.Check(r.Context(), store.CheckOptions{Policy: pol, Publisher: pub, Now: s.o.Now}, in.GetIntents())
	if err != nil {
		s.o.Logger.Error("check failed", "intents", len(in.GetIntents()), "err", err)
		fail(w, http.StatusServiceUnavailable, "check failed; try again")
		return
	}
	out := &hushv1.CheckResponse{Answers: answers}
	ct := bus.ContentTypeJSON
	var data []byte
	if binary {
		ct = bus.ContentTypeProtobuf
		data, err = proto.Marshal(out)
	} else {
		data, err = protojson.Marshal(out)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
	if !binary {
		w.Write([]byte("\n"))
	}
}

// protobufBody reads a request's Content-Type: binary protobuf for
// application/protobuf (or application/x-protobuf), JSON otherwise, as the
// rest of the API reads any body as JSON (curl -d sends a form type).
func protobufBody(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == bus.ContentTypeProtobuf || mt == contentTypeProtobufAlt)
}

// InForce is the policy the gatekeepers run, which a check must answer
// with: they publish it on every start and change (bus.PublishPolicy), and
// it is read from there on each check and parsed once per version. Until
// one is published (or when it cannot be read) Fallback answers, the
// service's own --policy.
type InForce struct {
	JS       jetstream.JetStream
	Subjects bus.Subjects
	Fallback *policy.Policy
	Logger   *slog.Logger

	mu  sync.Mutex
	cur *policy.Policy
}

// Policy returns the policy in force.
func (f *InForce) Policy(ctx context.Context) *policy.Policy {
	version, text, err := bus.ReadPolicy(ctx, f.JS, f.Subjects, "")
	if err != nil {
		if f.Logger != nil && !errors.Is(err, bus.ErrNoPolicy) {
			f.Logger.Warn("policy in force not read; checks answer with --policy", "err", err)
		}
		return f.Fallback
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil && f.cur.Version == version {
		return f.cur
	}
	p, err := policy.Parse("policy in force "+version, text)
	if err != nil {
		if f.Logger != nil {
			f.Logger.Warn("policy in force not parsed; checks answer with --policy", "version", version, "err", err)
		}
		return f.Fallback
	}
	f.cur = p
	return p
}
