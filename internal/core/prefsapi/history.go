package prefsapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/pressure"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// HistoryDays is how far back the customer's own view of their contacts
// reaches.
const HistoryDays = 30

// maxHistoryShown bounds the attempts the page lists one by one; the
// sentences count them all.
const maxHistoryShown = 50

// Attempt is one contact someone tried, as the customer sees it: who, how,
// what kind, when, and what Hush did. Never the message itself.
type Attempt struct {
	Day      string `json:"day"`
	Service  string `json:"service"`
	Channel  string `json:"channel"`
	Category string `json:"category"`
	// Sent is true when the contact went out.
	Sent bool `json:"sent"`
	// Reason is the reason code when it did not ("" when sent).
	Reason string `json:"reason,omitempty"`
	// Why says in plain words why it did not.
	Why string `json:"why,omitempty"`
	// Words is the attempt in one line for the page: "Support, a text
	// message about service: not sent, because you asked us to leave you
	// alone".
	Words string `json:"-"`
}

// History is a customer's last HistoryDays of contacts.
type History struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Sent and Stopped are grouped sentences in plain words: "3 marketing
	// emails were not sent because you asked for one a week".
	Sent     []string  `json:"sent"`
	Stopped  []string  `json:"stopped"`
	Attempts []Attempt `json:"attempts"`
	// More is how many attempts the page does not list one by one.
	More int `json:"-"`
	// Loaded is false when the history could not be read; the page says so.
	Loaded bool `json:"-"`
}

// history reads a customer's last HistoryDays from the contact history,
// newest first, with the customer's current preferences for the words.
func (s *Server) history(ctx context.Context, customer string, p *hushv1.Preferences) (*History, error) {
	if s.o.JS == nil {
		return nil, errors.New("no NATS connection for the contact history")
	}
	now := s.o.Now().UTC()
	h := &History{Since: now.Add(-HistoryDays * 24 * time.Hour), Until: now, Sent: []string{}, Stopped: []string{}, Attempts: []Attempt{}}
	_, err := s.o.Subjects.ReadHistory(ctx, s.o.JS, customer, h.Since, func(rec *hushv1.SuppressionRecord, _ bool) error {
		d, it := rec.GetDecision(), rec.GetIntent()
		at := d.GetDecidedAt().AsTime()
		if at.Before(h.Since) || at.After(now) {
			return nil
		}
		a := Attempt{Day: at.Format(time.DateOnly), Service: it.GetSender().GetService(), Channel: d.GetChannel(),
			Category: d.GetCategory(), Sent: d.GetOutcome() == hushv1.Outcome_OUTCOME_APPROVED}
		if !a.Sent {
			var code hushv1.ReasonCode
			if rs := d.GetReasons(); len(rs) > 0 {
				code = rs[0].GetCode()
			}
			a.Reason, a.Why = policy.ShortCode(code), whyNotSent(code, d.GetChannel(), d.GetCategory(), p)
		}
		a.Words = attemptWords(a)
		h.Attempts = append(h.Attempts, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(h.Attempts) // newest first
	h.Sent, h.Stopped = sentences(h.Attempts)
	h.Loaded = true
	return h, nil
}

// sentences groups attempts into plain words: one sentence per kind and
// channel that went out, and one per kind, channel and reason that did
// not, the largest groups first (then the most recent).
func sentences(as []Attempt) (sent, stopped []string) {
	type key struct{ category, channel, why string }
	var order []key
	counts := map[key]int{}
	for _, a := range as {
		k := key{a.Category, a.Channel, a.Why}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	slices.SortStableFunc(order, func(a, b key) int { return cmp.Compare(counts[b], counts[a]) })
	sent, stopped = []string{}, []string{}
	for _, k := range order {
		n := counts[k]
		what := count(n) + " " + categoryWords(k.category) + " " + channelNoun(k.channel, n)
		verb := "was"
		if n > 1 {
			verb = "were"
		}
		done := "sent"
		if k.channel == "voice" {
			done = "made"
		}
		if k.why == "" {
			sent = append(sent, capitalise(what)+" "+verb+" "+done+".")
			continue
		}
		stopped = append(stopped, capitalise(what)+" "+verb+" not "+done+" because "+k.why+".")
	}
	return sent, stopped
}

func attemptWords(a Attempt) string {
	w := label(a.Service) + ", " + article(categoryWords(a.Category)+" "+channelNoun(a.Channel, 1))
	if a.Sent {
		return w + ": sent"
	}
	return w + ": not sent, because " + a.Why
}

// channelNouns name one contact on a channel, and several.
var channelNouns = map[string][2]string{
	"email": {"email", "emails"}, "sms": {"text message", "text messages"}, "push": {"app notification", "app notifications"},
	"voice": {"phone call", "phone calls"}, "whatsapp": {"WhatsApp message", "WhatsApp messages"},
	"in_app": {"message in the app", "messages in the app"},
}

func channelNoun(channel string, n int) string {
	nouns, ok := channelNouns[channel]
	if !ok {
		nouns = [2]string{"message", "messages"}
	}
	if n == 1 {
		return nouns[0]
	}
	return nouns[1]
}

// categoryWords is a category as an adjective: "marketing", "order updates".
func categoryWords(c string) string { return strings.ToLower(label(c)) }

func count(n int) string {
	if n == 1 {
		return "one"
	}
	return strconv.Itoa(n)
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// whyNotSent says in plain words why a contact was not sent, from its
// reason code and the customer's own choices: the words of the page that
// set them.
func whyNotSent(code hushv1.ReasonCode, channel, category string, p *hushv1.Preferences) string {
	switch code {
	case hushv1.ReasonCode_REASON_CODE_OPTED_OUT:
		return "you switched off " + channelNoun(channel, 2)
	case hushv1.ReasonCode_REASON_CODE_CATEGORY_OPTED_OUT:
		return "you switched off " + categoryWords(category) + " messages"
	case hushv1.ReasonCode_REASON_CODE_TOPIC_OPTED_OUT:
		return "you switched off their topic"
	case hushv1.ReasonCode_REASON_CODE_CONSENT_REVOKED:
		return "you withdrew your consent"
	case hushv1.ReasonCode_REASON_CODE_DESTINATION_SUPPRESSED, hushv1.ReasonCode_REASON_CODE_STOP_KEYWORD:
		return "you asked us not to use that address or number"
	case hushv1.ReasonCode_REASON_CODE_DO_NOTHING:
		return "you asked us to leave you alone"
	case hushv1.ReasonCode_REASON_CODE_ESSENTIAL_ONLY:
		return "you asked for essential messages only"
	case hushv1.ReasonCode_REASON_CODE_CARE_HOLD:
		return "we paused contacts with you"
	case hushv1.ReasonCode_REASON_CODE_CUSTOMER_FREQUENCY:
		if f := p.GetMaxFrequency(); f.GetCount() > 0 && f.GetWindow() != nil {
			return "you asked for " + frequencyWords(f.GetCount(), f.GetWindow().AsDuration())
		}
		return "you asked us to contact you less often"
	case hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, hushv1.ReasonCode_REASON_CODE_OUTSIDE_CONTACT_HOURS:
		return "it would have reached you at a time you do not want to be contacted"
	case hushv1.ReasonCode_REASON_CODE_NO_CONTACT_DAY:
		return "it was a day on which we do not contact you"
	case hushv1.ReasonCode_REASON_CODE_FREQUENCY_CAP, hushv1.ReasonCode_REASON_CODE_RESERVED_BUDGET,
		hushv1.ReasonCode_REASON_CODE_LOST_ARBITRATION, hushv1.ReasonCode_REASON_CODE_CAP_WAIT_EXCEEDED:
		return "we had already contacted you as often as our own rules allow"
	case hushv1.ReasonCode_REASON_CODE_UNSOLICITED_NO_PURPOSE:
		return "a member of staff tried to contact you without saying why"
	case hushv1.ReasonCode_REASON_CODE_UNSOLICITED_CAP, hushv1.ReasonCode_REASON_CODE_COOLDOWN:
		return "we had contacted you recently without you asking"
	case hushv1.ReasonCode_REASON_CODE_AGENT_CAP:
		return "a member of staff had already contacted too many people who had not asked"
	case hushv1.ReasonCode_REASON_CODE_EXPIRED:
		return "it was too late to be of use"
	case hushv1.ReasonCode_REASON_CODE_CONSENT_REQUIRED:
		return "you have not agreed to receive them"
	case hushv1.ReasonCode_REASON_CODE_DEFERRAL_CANCELLED:
		return "it was cancelled"
	}
	return "it did not pass our checks"
}

// frequencyWords says a maximum frequency as people do: "one a week",
// "2 a day", "3 every 10 days".
func frequencyWords(n uint32, window time.Duration) string {
	per := map[time.Duration]string{time.Hour: "an hour", 24 * time.Hour: "a day", 7 * 24 * time.Hour: "a week",
		14 * 24 * time.Hour: "a fortnight", 30 * 24 * time.Hour: "a month", 31 * 24 * time.Hour: "a month"}[window]
	if per == "" {
		if window%(24*time.Hour) == 0 {
			per = fmt.Sprintf("every %d days", window/(24*time.Hour))
		} else {
			per = "every " + window.String()
		}
	}
	return count(int(n)) + " " + per
}

// getHistory answers GET /v1/customers/{customer}/history: the customer's
// last 30 days of contacts, as the page shows them.
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, who *Principal) {
	customer := r.PathValue("customer")
	if !who.CanRead(customer) {
		forbidden(w, "read this customer's contact history")
		return
	}
	p, _, err := s.o.Consent.Get(r.Context(), customer)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	h, err := s.history(r.Context(), customer, p)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// getPressure answers GET /v1/reports/pressure: the over-servicing report
// for dashboards. Staff only: it names agents.
func (s *Server) getPressure(w http.ResponseWriter, r *http.Request, who *Principal) {
	if !who.Staff() {
		forbidden(w, "read the over-servicing report")
		return
	}
	now := s.o.Now().UTC()
	since, until := now.Add(-30*24*time.Hour), now
	for _, q := range []struct {
		name string
		t    *time.Time
	}{{"since", &since}, {"until", &until}} {
		v := r.URL.Query().Get(q.name)
		if v == "" {
			continue
		}
		t, err := reportTime(v, now)
		if err != nil {
			s.failErr(w, r, &fieldError{Field: q.name, Msg: err.Error()})
			return
		}
		*q.t = t
	}
	if !since.Before(until) {
		s.failErr(w, r, &fieldError{Field: "since", Msg: "since must be before until"})
		return
	}
	if s.o.JS == nil {
		s.failErr(w, r, errors.New("no NATS connection for the contact history"))
		return
	}
	rep, err := pressure.Read(r.Context(), s.o.JS, s.o.Subjects, since, until)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// reportTime reads RFC 3339, a date, or a duration back from now ("30d",
// "12h").
func reportTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n > 0 && n <= 366 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339, a date, or a duration back like 30d or 12h", v)
}

// pageHistory is the history as the page shows it: the newest attempts one
// by one, and a page that still works (saying the history is missing)
// when it cannot be read.
func (s *Server) pageHistory(ctx context.Context, customer string, p *hushv1.Preferences) *History {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := s.history(ctx, customer, p)
	if err != nil {
		s.o.Logger.Error("contact history", "customer_id", customer, "err", err)
		return &History{}
	}
	if len(h.Attempts) > maxHistoryShown {
		h.More, h.Attempts = len(h.Attempts)-maxHistoryShown, h.Attempts[:maxHistoryShown]
	}
	return h
}
