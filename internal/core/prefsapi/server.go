// Package prefsapi is the preferences service's HTTP surface: the /v1 JSON
// API for customers and staff, RFC 8058 one-click unsubscribe, the
// preference-centre page, the OpenAPI document, metrics and health checks.
package prefsapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/explain"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/pkg/links"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3.1 document, as served at /openapi.json.
func OpenAPI() []byte { return slices.Clone(openAPI) }

// Options configure a Server. Consent, Policy and Tokens are required.
type Options struct {
	Consent *consent.Service
	// JS publishes inbound contacts.
	JS       jetstream.JetStream
	Subjects bus.Subjects
	// Policy names the categories preferences may refer to.
	Policy *policy.Policy
	Tokens *Tokens
	// Links signs and checks unsubscribe and preference-centre links;
	// nil disables /u/, /p/ and POST /links.
	Links *links.Signer
	// Brand is whose preferences these are, as customers know the business
	// ("Acme Bank"); the pages name it. Empty: the pages name no one.
	Brand string
	// PublicURL is the service's address as customers reach it
	// ("https://prefs.example.com"), the base of the links it makes.
	PublicURL string
	// MaxBody bounds request bodies (64 KiB).
	MaxBody int64
	// Explainer answers GET /v1/intents/{intent}/explanation for staff;
	// nil disables it.
	Explainer *explain.Explainer
	// Checker answers POST /v1/check ("may I contact?"); nil disables it.
	Checker Checker
	// MaxCheckBody bounds the body of a check (DefaultMaxCheckBody).
	MaxCheckBody int64
	// CheckPolicy is the policy a check answers with (InForce.Policy);
	// nil: Policy.
	CheckPolicy func(context.Context) *policy.Policy
	// Ready reports whether Redis and NATS answer (/readyz).
	Ready    func(context.Context) error
	Registry *prometheus.Registry
	Logger   *slog.Logger
	Now      func() time.Time
}

// Server serves the preferences API.
type Server struct {
	o       Options
	mux     *http.ServeMux
	metrics *metrics
}

// New returns a server; see Handler.
func New(o Options) *Server {
	if o.Subjects.Prefix == "" {
		o.Subjects = bus.NewSubjects("")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Ready == nil {
		o.Ready = func(context.Context) error { return nil }
	}
	s := &Server{o: o, mux: http.NewServeMux(), metrics: newMetrics(o.Registry)}
	s.routes()
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.metrics.instrument(s.mux) }

func (s *Server) routes() {
	api := func(pattern string, h func(http.ResponseWriter, *http.Request, *Principal)) {
		s.mux.HandleFunc(pattern, s.authed(h))
	}
	api("GET /v1/customers/{customer}/preferences", s.getPrefs)
	api("PUT /v1/customers/{customer}/preferences", s.putPrefs)
	api("PATCH /v1/customers/{customer}/preferences", s.patchPrefs)
	api("PUT /v1/customers/{customer}/mode", s.putMode)
	api("PUT /v1/customers/{customer}/care-hold", s.putCareHold)
	api("DELETE /v1/customers/{customer}/care-hold", s.deleteCareHold)
	api("POST /v1/customers/{customer}/consent/revoke", s.revokeConsent)
	s.consentRoutes(api)
	api("POST /v1/customers/{customer}/inbound", s.postInbound)
	api("POST /v1/customers/{customer}/suppressions", s.postSuppression)
	api("DELETE /v1/customers/{customer}/suppressions/{hash}", s.deleteSuppression)
	api("GET /v1/customers/{customer}/history", s.getHistory)
	api("GET /v1/reports/pressure", s.getPressure)
	if s.o.Checker != nil {
		// Its own body limit: a campaign's batch is far over MaxBody.
		s.mux.HandleFunc("POST /v1/check", s.postCheck)
	}
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.o.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.o.Registry, promhttp.HandlerOpts{}))
	if s.o.Links != nil {
		s.mux.HandleFunc("GET /u/{token}", s.unsubscribePage)
		s.mux.HandleFunc("POST /u/{token}", s.unsubscribe)
		s.mux.HandleFunc("GET /p/{token}", s.preferencePage)
		s.mux.HandleFunc("POST /p/{token}", s.preferencePost)
		api("POST /v1/customers/{customer}/links", s.postLink)
	}
	if s.o.Explainer != nil {
		api("GET /v1/intents/{intent}/explanation", s.getExplanation)
	}
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	// Field names the request field at fault, for 400s.
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// failErr maps an error to its answer: 400 for field errors, 409/412 for
// conflicts, 413 for big bodies, 500 otherwise (logged, not shown).
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, apiError{Error: fe.Error(), Field: fe.Field})
	case errors.As(err, &mbe):
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
	case errors.Is(err, consent.ErrConflict):
		if r.Header.Get("If-Match") != "" {
			fail(w, http.StatusPreconditionFailed, "preferences changed since the version in If-Match; read them again")
			return
		}
		fail(w, http.StatusConflict, "preferences are changing concurrently; try again")
	default:
		s.o.Logger.Error("request failed", "route", r.Pattern, "customer_id", r.PathValue("customer"), "err", err)
		fail(w, http.StatusInternalServerError, "internal error")
	}
}

// authed authenticates the bearer token (401) and checks the customer id in
// the path; each handler checks its scope (403).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.o.Tokens.authenticate(r)
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hush"`)
			fail(w, http.StatusUnauthorized, "missing or unknown bearer token")
			return
		}
		if c := r.PathValue("customer"); c != "" {
			if err := checkCustomerID(c); err != nil {
				s.failErr(w, r, err)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxBody)
		h(w, r, p)
	}
}

func checkCustomerID(c string) error {
	if len(c) > 128 || strings.ContainsAny(c, "{} \t\r\n") {
		return badField("customer", "invalid customer id")
	}
	return nil
}

func forbidden(w http.ResponseWriter, what string) {
	fail(w, http.StatusForbidden, "this token may not "+what)
}

var prefsJSON = protojson.MarshalOptions{}
var prefsIn = protojson.UnmarshalOptions{}

// etag is a preferences version as an entity tag.
func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

// ifMatch reads an If-Match header: nil when absent.
func ifMatch(r *http.Request) (*uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return nil, nil
	}
	v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil {
		return nil, badField("If-Match", "want an ETag from a GET, like \"3\"")
	}
	return &v, nil
}

func (s *Server) writePrefs(w http.ResponseWriter, p *hushv1.Preferences, v uint64) {
	b, err := prefsJSON.Marshal(p)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", etag(v))
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
	w.Write([]byte("\n"))
}

func (s *Server) getPrefs(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.CanRead(customer) {
		forbidden(w, "read this customer's preferences")
		return
	}
	p, v, err := s.o.Consent.Get(r.Context(), customer)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.writePrefs(w, p, v)
}

// change applies a mutation for the request's customer and answers with the
// new preferences.
func (s *Server) change(w http.ResponseWriter, r *http.Request, who *Principal, mutate func(*hushv1.Preferences) error) {
	iv, err := ifMatch(r)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	res, err := s.apply(r.Context(), r.PathValue("customer"), who.Subject, consent.ViaAPI, iv, mutate)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.writePrefs(w, res.Prefs, res.Version)
}

func (s *Server) apply(ctx context.Context, customer, actor, via string, iv *uint64, mutate func(*hushv1.Preferences) error) (consent.Result, error) {
	res, err := s.o.Consent.Apply(ctx, consent.Change{Customer: customer, Actor: actor, Via: via, IfVersion: iv,
		Mutate: func(p *hushv1.Preferences) error {
			if err := mutate(p); err != nil {
				return err
			}
			return ValidatePreferences(p, s.o.Policy)
		}})
	if err == nil && !res.Unchanged {
		s.metrics.changes.WithLabelValues(via).Inc()
		if res.HistoryPending {
			s.metrics.historyPending.Inc()
		}
	}
	return res, err
}

// decodeBody reads a JSON body into v (protojson for messages); errors name
// the field when the decoder can.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if m, ok := v.(proto.Message); ok {
		if err := prefsIn.Unmarshal(b, m); err != nil {
			return badField(protoErrField(err.Error()), "%s", cleanProtoErr(err.Error()))
		}
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badField(te.Field, "want a %s", te.Type)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badField(strings.Trim(f, `"`), "unknown field")
		}
		return badField("body", "invalid JSON: %v", err)
	}
	return nil
}

// protoErrField finds the field a protojson error names: `unknown field
// "x"` or `invalid value for string field timeZone: 5`.
func protoErrField(msg string) string {
	if _, f, ok := strings.Cut(msg, `unknown field "`); ok {
		f, _, _ = strings.Cut(f, `"`)
		return f
	}
	if _, f, ok := strings.Cut(msg, " field "); ok {
		f, _, _ = strings.Cut(f, ":")
		return strings.TrimSpace(f)
	}
	return "body"
}

func cleanProtoErr(msg string) string {
	msg = strings.TrimPrefix(msg, "proto:")
	msg = strings.ReplaceAll(msg, "\u00a0", " ")
	return strings.TrimSpace(msg)
}

// sameHold reports whether two care holds are the same.
func sameHold(a, b *hushv1.CareHold) bool { return proto.Equal(a, b) }

func (s *Server) putPrefs(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.Owns(customer) {
		forbidden(w, "change this customer's preferences")
		return
	}
	in := new(hushv1.Preferences)
	if err := decodeBody(r, in); err != nil {
		s.failErr(w, r, err)
		return
	}
	if in.GetCustomerId() != "" && in.GetCustomerId() != customer {
		s.failErr(w, r, badField("customer_id", "does not match the path's customer"))
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		if in.CareHold != nil && !sameHold(in.GetCareHold(), p.GetCareHold()) {
			return badField("care_hold", "is set and cleared with PUT and DELETE /care-hold (staff)")
		}
		hold := p.GetCareHold()
		if err := keepConsent(in, p, true); err != nil {
			return err
		}
		proto.Reset(p)
		proto.Merge(p, in)
		p.CareHold = hold
		return nil
	})
}

func (s *Server) patchPrefs(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.Owns(customer) {
		forbidden(w, "change this customer's preferences")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	var patch map[string]any
	if err := json.Unmarshal(body, &patch); err != nil {
		s.failErr(w, r, badField("body", "want a JSON object (RFC 7396 merge patch): %v", err))
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		// RFC 7396 on the JSON form: objects merge, null deletes, anything
		// else (lists included) replaces.
		cur, err := prefsJSON.Marshal(p)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(cur, &doc); err != nil {
			return err
		}
		merged, _ := json.Marshal(mergePatch(doc, patch))
		next := new(hushv1.Preferences)
		if err := prefsIn.Unmarshal(merged, next); err != nil {
			return badField(protoErrField(err.Error()), "%s", cleanProtoErr(err.Error()))
		}
		if next.GetCustomerId() != customer {
			return badField("customer_id", "does not match the path's customer")
		}
		if !sameHold(next.GetCareHold(), p.GetCareHold()) {
			return badField("care_hold", "is set and cleared with PUT and DELETE /care-hold (staff)")
		}
		if err := keepConsent(next, p, false); err != nil {
			return err
		}
		proto.Reset(p)
		proto.Merge(p, next)
		return nil
	})
}

func mergePatch(doc map[string]any, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(doc, k)
		case map[string]any:
			sub, _ := doc[k].(map[string]any)
			doc[k] = mergePatch(sub, pv)
		default:
			doc[k] = v
		}
	}
	return doc
}

// modeRequest is the body of PUT /mode.
type modeRequest struct {
	Mode  string     `json:"mode"`
	Until *time.Time `json:"until,omitempty"`
}

// ParseMode reads a mode as people write it: normal, essential_only,
// do_nothing (or the enum name, MODE_DO_NOTHING).
func ParseMode(s string) (hushv1.Mode, bool) {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
	if !strings.HasPrefix(s, "MODE_") {
		s = "MODE_" + s
	}
	m, ok := hushv1.Mode_value[s]
	return hushv1.Mode(m), ok
}

// ModeName is a mode as people write it: "do_nothing".
func ModeName(m hushv1.Mode) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "MODE_"))
}

func (s *Server) putMode(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Owns(r.PathValue("customer")) {
		forbidden(w, "change this customer's mode")
		return
	}
	var in modeRequest
	if err := decodeBody(r, &in); err != nil {
		s.failErr(w, r, err)
		return
	}
	m, ok := ParseMode(in.Mode)
	if !ok {
		s.failErr(w, r, badField("mode", "want normal, essential_only or do_nothing, got %q", in.Mode))
		return
	}
	if in.Until != nil && !in.Until.After(s.o.Now()) {
		s.failErr(w, r, badField("until", "is in the past"))
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		p.Mode = m
		p.ModeUntil = nil
		if in.Until != nil {
			p.ModeUntil = timestamppb.New(*in.Until)
		}
		return nil
	})
}

// careHoldRequest is the body of PUT /care-hold.
type careHoldRequest struct {
	Reason string     `json:"reason"`
	Until  *time.Time `json:"until,omitempty"`
}

func (s *Server) putCareHold(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Staff() {
		forbidden(w, "set care holds (staff only)")
		return
	}
	var in careHoldRequest
	if err := decodeBody(r, &in); err != nil {
		s.failErr(w, r, err)
		return
	}
	if strings.TrimSpace(in.Reason) == "" || len(in.Reason) > 200 {
		s.failErr(w, r, badField("reason", "required, at most 200 characters (say why, without personal details)"))
		return
	}
	if in.Until != nil && !in.Until.After(s.o.Now()) {
		s.failErr(w, r, badField("until", "is in the past"))
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		p.CareHold = &hushv1.CareHold{Reason: in.Reason, SetBy: who.Subject}
		if in.Until != nil {
			p.CareHold.Until = timestamppb.New(*in.Until)
		}
		return nil
	})
}

func (s *Server) deleteCareHold(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Staff() {
		forbidden(w, "clear care holds (staff only)")
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		p.CareHold = nil
		return nil
	})
}

func (s *Server) revokeConsent(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Owns(r.PathValue("customer")) {
		forbidden(w, "revoke this customer's consent")
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		p.ConsentRevoked = true
		return nil
	})
}

// inboundRequest is the body of POST /inbound.
type inboundRequest struct {
	Channel    string     `json:"channel"`
	ThreadID   string     `json:"thread_id"`
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

func (s *Server) postInbound(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.Staff() {
		forbidden(w, "record inbound contacts (staff only)")
		return
	}
	var in inboundRequest
	if err := decodeBody(r, &in); err != nil {
		s.failErr(w, r, err)
		return
	}
	if !policy.IsChannel(in.Channel) {
		s.failErr(w, r, badField("channel", "unknown channel %q (want one of email, sms, push, voice, whatsapp, in_app)", in.Channel))
		return
	}
	if in.ThreadID == "" || len(in.ThreadID) > 128 || strings.ContainsAny(in.ThreadID, "{} \t\r\n") {
		s.failErr(w, r, badField("thread_id", "required: the conversation the customer opened (no spaces or braces, at most 128 bytes)"))
		return
	}
	at := s.o.Now()
	if in.ReceivedAt != nil {
		at = *in.ReceivedAt
	}
	ic := &hushv1.InboundContact{CustomerId: customer, Channel: in.Channel, ThreadId: in.ThreadID, ReceivedAt: timestamppb.New(at)}
	msg, err := bus.NewMsg(s.o.Subjects.Inbound(in.Channel), "inbound:"+customer+":"+in.ThreadID+":"+strconv.FormatInt(at.UnixMilli(), 10), ic)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.o.JS.PublishMsg(ctx, msg); err != nil {
		s.o.Logger.Error("publish inbound contact", "customer_id", customer, "err", err)
		fail(w, http.StatusServiceUnavailable, "the message bus did not take the inbound contact; try again")
		return
	}
	b, _ := prefsJSON.Marshal(ic)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	w.Write(b)
	w.Write([]byte("\n"))
}

// suppressionRequest is the body of POST /suppressions.
type suppressionRequest struct {
	Destination string `json:"destination"`
}

// suppressionResponse answers POST /suppressions: only the hash is kept.
type suppressionResponse struct {
	Hash    string `json:"hash"`
	Version uint64 `json:"version"`
}

func (s *Server) postSuppression(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Owns(r.PathValue("customer")) {
		forbidden(w, "change this customer's suppression list")
		return
	}
	var in suppressionRequest
	if err := decodeBody(r, &in); err != nil {
		s.failErr(w, r, err)
		return
	}
	h := policy.HashDestination(in.Destination)
	if h == "" || len(in.Destination) > 320 {
		s.failErr(w, r, badField("destination", "required: the email address, phone number or device token never to contact (at most 320 characters)"))
		return
	}
	iv, err := ifMatch(r)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	res, err := s.apply(r.Context(), r.PathValue("customer"), who.Subject, consent.ViaAPI, iv, func(p *hushv1.Preferences) error {
		if !slices.Contains(p.SuppressedDestinations, h) {
			p.SuppressedDestinations = append(p.SuppressedDestinations, h)
		}
		return nil
	})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	writeJSON(w, http.StatusOK, suppressionResponse{Hash: h, Version: res.Version})
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Owns(r.PathValue("customer")) {
		forbidden(w, "change this customer's suppression list")
		return
	}
	h := r.PathValue("hash")
	if !sha256Hex.MatchString(h) {
		s.failErr(w, r, badField("hash", "want the lowercase hex SHA-256 returned when the destination was added"))
		return
	}
	s.change(w, r, who, func(p *hushv1.Preferences) error {
		p.SuppressedDestinations = slices.DeleteFunc(p.SuppressedDestinations, func(x string) bool { return x == h })
		return nil
	})
}

// linkRequest is the body of POST /links.
type linkRequest struct {
	// Kind is "unsubscribe" or "preferences".
	Kind     string `json:"kind"`
	Channel  string `json:"channel,omitempty"`
	Category string `json:"category,omitempty"`
	// TTL is how long the link works, as a Go duration ("2160h"); 90 days
	// for unsubscribe links, 7 days for preference links when empty.
	TTL string `json:"ttl,omitempty"`
}

// linkResponse carries a signed link and, for unsubscribe links, the mail
// headers that carry it.
type linkResponse struct {
	URL                 string    `json:"url"`
	ExpiresAt           time.Time `json:"expires_at"`
	ListUnsubscribe     string    `json:"list_unsubscribe,omitempty"`
	ListUnsubscribePost string    `json:"list_unsubscribe_post,omitempty"`
}

// postLink signs a link for a customer, for senders that are not written in
// Go (Go senders use pkg/links directly).
func (s *Server) postLink(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.Staff() {
		forbidden(w, "make customer links (staff or admin)")
		return
	}
	var in linkRequest
	if err := decodeBody(r, &in); err != nil {
		s.failErr(w, r, err)
		return
	}
	ttl := 90 * 24 * time.Hour
	if in.Kind == "preferences" {
		ttl = 7 * 24 * time.Hour
	}
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d < time.Minute || d > 366*24*time.Hour {
			s.failErr(w, r, badField("ttl", "want a duration between 1m and 8784h, like \"2160h\""))
			return
		}
		ttl = d
	}
	now := s.o.Now()
	out := linkResponse{ExpiresAt: now.Add(ttl).UTC().Truncate(time.Second)}
	switch in.Kind {
	case "preferences":
		out.URL = s.o.Links.PreferencesURL(s.o.PublicURL, customer, ttl, now)
	case "unsubscribe":
		if in.Channel == "" && in.Category == "" {
			s.failErr(w, r, badField("category", "an unsubscribe link revokes a category, a channel or both; name one"))
			return
		}
		if in.Channel != "" && !policy.IsChannel(in.Channel) {
			s.failErr(w, r, badField("channel", "unknown channel %q", in.Channel))
			return
		}
		if _, ok := s.o.Policy.ClassOf(in.Category); in.Category != "" && !ok {
			s.failErr(w, r, badField("category", "unknown category %q", in.Category))
			return
		}
		out.URL = s.o.Links.UnsubscribeURL(s.o.PublicURL, links.Claims{Customer: customer, Channel: in.Channel,
			Category: in.Category, Expires: now.Add(ttl).Unix()})
		out.ListUnsubscribe, out.ListUnsubscribePost = "<"+out.URL+">", "List-Unsubscribe=One-Click"
	default:
		s.failErr(w, r, badField("kind", "want unsubscribe or preferences, got %q", in.Kind))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
