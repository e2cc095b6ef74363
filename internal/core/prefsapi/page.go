package prefsapi

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/pkg/links"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

var channelLabels = map[string]string{
	"email": "Email", "sms": "Text messages (SMS)", "push": "App notifications", "voice": "Phone calls",
	"whatsapp": "WhatsApp", "in_app": "Messages inside the app",
}

// pageHeaders keep link tokens out of referrers and caches and let the
// page run no script but the one that picks the browser's time zone.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src "+zoneScriptHash+"; form-action 'self'; frame-ancestors 'none'")
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	pageHeaders(w)
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.o.Logger.Error("render page", "page", name, "err", err)
	}
}

func linkError(err error) (int, string) {
	if errors.Is(err, links.ErrExpired) {
		return http.StatusGone, "This link has expired. Use the link in a newer message, or contact us."
	}
	return http.StatusNotFound, "This link is not valid. Check that it was copied completely."
}

type unsubscribeData struct {
	Brand, Title, What, Error string
	// Preferences links to the customer's preference page.
	Preferences string
	Done        bool
}

// unsubscribeData fills in the brand and, for a valid link, a link to the
// customer's preference page. That link lasts an hour from the page's
// rendering: an unsubscribe link may sit in a mailbox for months and only
// revokes; the preference page can also switch things back on.
func (s *Server) unsubscribeData(title string, c *links.Claims) unsubscribeData {
	d := unsubscribeData{Brand: s.o.Brand, Title: title}
	if c != nil {
		d.What = unsubscribeWhat(*c)
		d.Preferences = s.o.Links.PreferencesURL("", c.Customer, time.Hour, s.o.Now())
	}
	return d
}

func unsubscribeWhat(c links.Claims) string {
	var parts []string
	if c.Category != "" {
		parts = append(parts, c.Category+" messages")
	}
	if c.Channel != "" {
		l := channelLabels[c.Channel]
		if l == "" {
			l = c.Channel
		}
		parts = append(parts, "anything by "+strings.ToLower(l))
	}
	if len(parts) == 0 {
		return "these messages"
	}
	return strings.Join(parts, " and ")
}

func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	c, err := s.o.Links.Verify(r.PathValue("token"), links.KindUnsubscribe, s.o.Now())
	if err != nil {
		code, msg := linkError(err)
		d := s.unsubscribeData("Unsubscribe", nil)
		d.Error = msg
		s.render(w, code, "unsubscribe.html", d)
		return
	}
	s.render(w, http.StatusOK, "unsubscribe.html", s.unsubscribeData("Unsubscribe", &c))
}

// unsubscribe is RFC 8058's one-click POST: the body must carry
// List-Unsubscribe=One-Click; mail providers send no cookies and follow no
// redirects, so the answer is a plain 200.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	c, err := s.o.Links.Verify(r.PathValue("token"), links.KindUnsubscribe, s.o.Now())
	if err != nil {
		code, msg := linkError(err)
		d := s.unsubscribeData("Unsubscribe", nil)
		d.Error = msg
		s.render(w, code, "unsubscribe.html", d)
		return
	}
	if err := r.ParseMultipartForm(8 << 10); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		d := s.unsubscribeData("Unsubscribe", &c)
		d.Error = "The request could not be read."
		s.render(w, http.StatusBadRequest, "unsubscribe.html", d)
		return
	}
	if r.PostFormValue("List-Unsubscribe") != "One-Click" {
		d := s.unsubscribeData("Unsubscribe", &c)
		d.Error = "The request must carry List-Unsubscribe=One-Click (RFC 8058)."
		s.render(w, http.StatusBadRequest, "unsubscribe.html", d)
		return
	}
	_, err = s.apply(r.Context(), c.Customer, "customer", consent.ViaOneClick, nil, func(p *hushv1.Preferences) error {
		if c.Channel != "" && !slices.Contains(p.OptedOutChannels, c.Channel) {
			p.OptedOutChannels = append(p.OptedOutChannels, c.Channel)
		}
		if c.Category != "" && !slices.Contains(p.OptedOutCategories, c.Category) {
			p.OptedOutCategories = append(p.OptedOutCategories, c.Category)
		}
		return nil
	})
	if err != nil {
		s.o.Logger.Error("one-click unsubscribe", "customer_id", c.Customer, "err", err)
		d := s.unsubscribeData("Unsubscribe", &c)
		d.Error = "We could not record this right now. Please try again in a minute."
		s.render(w, http.StatusServiceUnavailable, "unsubscribe.html", d)
		return
	}
	d := s.unsubscribeData("Unsubscribed", &c)
	d.Done = true
	s.render(w, http.StatusOK, "unsubscribe.html", d)
}

type choice struct {
	Name, Label string
	On          bool
}

// modeChoice is one of the three modes as the page offers it; Lets says
// what it lets through, in words made from the policy in force.
type modeChoice struct {
	Name, Label, Lets string
	On                bool
}

// zoneGroup is the time zones of one region ("Europe"), for an optgroup.
type zoneGroup struct {
	Region string
	Zones  []choice
}

type prefsPageData struct {
	Brand, Title, Error, Summary, ModeUntil, Today, LeaveUntil, LeaveLets string
	QuietStart, QuietEnd, TimeZone, TopicOff, Fallback                    string
	Saved                                                                 bool
	// Invalid is the id of the field at fault, FieldError what is wrong
	// with it; the page marks the field and keeps what the customer typed.
	Invalid, FieldError          string
	Modes                        []modeChoice
	Channels, Categories, Topics []choice
	Zones                        []zoneGroup
	Script                       template.JS

	// Digest are the kinds of message a daily summary may hold, DigestAt
	// its time ("send me one summary a day at HH:MM").
	Digest   []choice
	DigestAt string
	// History is the customer's last 30 days of contacts (history.go);
	// nil on pages that do not show it.
	History *History
}

// classWords says in plain words what a class of contacts is.
var classWords = map[policy.Class]string{
	policy.ClassCritical:      "security, fraud or legal matters",
	policy.ClassTransactional: "messages about something you did, like receipts and password resets",
	policy.ClassService:       "service updates",
	policy.ClassMarketing:     "offers and surveys",
}

var modeLabels = map[hushv1.Mode]string{
	hushv1.Mode_MODE_NORMAL:         "As I choose below",
	hushv1.Mode_MODE_ESSENTIAL_ONLY: "Essential only",
	hushv1.Mode_MODE_DO_NOTHING:     "Leave me alone",
}

// modeWords says what a mode lets through, from the policy's own statement
// of it, so the page cannot promise what the rules do not do: "only
// security, fraud or legal matters, and answers when you contact us".
func modeWords(m policy.ModeScope, pol *policy.Policy) string {
	if m.All {
		return "everything you have not switched off below"
	}
	var parts []string
	for _, c := range m.Classes {
		if slices.ContainsFunc(m.Categories, func(cat string) bool { cl, _ := pol.ClassOf(cat); return cl == c }) {
			parts = append(parts, classWords[c])
		}
	}
	if m.Replies {
		parts = append(parts, "answers when you contact us")
	}
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return "only " + parts[0]
	}
	return "only " + strings.Join(parts[:len(parts)-1], ", ") + ", and " + parts[len(parts)-1]
}

// summary says in one sentence what Hush does for the customer now.
func (s *Server) summary(p *hushv1.Preferences, now time.Time) string {
	until := ""
	mode := p.GetMode()
	if u := p.GetModeUntil(); u != nil {
		if !now.Before(u.AsTime()) {
			mode = hushv1.Mode_MODE_NORMAL
		}
		until = " until " + u.AsTime().UTC().Format("2 January 2006")
	}
	critical := classWords[policy.ClassCritical]
	switch {
	case p.GetConsentRevoked():
		return "You withdrew your consent: we only contact you about " + critical + "."
	case p.GetCareHold() != nil:
		return "We are not contacting you for now, except about " + critical + ", or to answer you."
	case mode == hushv1.Mode_MODE_DO_NOTHING:
		return "You asked us to leave you alone" + until + ": we send you " + modeWords(s.o.Policy.ModeLets(mode), s.o.Policy) + "."
	case mode == hushv1.Mode_MODE_ESSENTIAL_ONLY:
		return "You receive essential messages only" + until + ": we send you " + modeWords(s.o.Policy.ModeLets(mode), s.o.Policy) + "."
	}
	return "We contact you as you chose below."
}

func (s *Server) pageData(title string) prefsPageData {
	brand := s.o.Brand
	if brand != "" {
		title += " with " + brand
	}
	return prefsPageData{Brand: brand, Title: title}
}

func (s *Server) prefsPageData(p *hushv1.Preferences) prefsPageData {
	now := s.o.Now()
	d := s.pageData("Your contact preferences")
	d.Summary, d.Today, d.TimeZone = s.summary(p, now), now.UTC().Format(time.DateOnly), p.GetTimeZone()
	d.QuietStart, d.QuietEnd = p.GetQuietHours().GetStart(), p.GetQuietHours().GetEnd()
	d.Fallback, d.Script = s.o.Policy.FallbackZone.String(), zoneScript
	if u := p.GetModeUntil(); u != nil {
		d.ModeUntil = u.AsTime().UTC().Format(time.DateOnly)
	}
	for _, m := range s.o.Policy.Modes() {
		words := modeWords(m, s.o.Policy)
		d.Modes = append(d.Modes, modeChoice{ModeName(m.Mode), modeLabels[m.Mode], strings.ToUpper(words[:1]) + words[1:] + ".", m.Mode == p.GetMode()})
		if m.Mode == hushv1.Mode_MODE_DO_NOTHING {
			d.LeaveLets = "We will send you " + words + "."
		}
	}
	for _, c := range policy.Channels {
		d.Channels = append(d.Channels, choice{c, channelLabels[c], !slices.Contains(p.GetOptedOutChannels(), c)})
	}
	for _, c := range s.categories() {
		d.Categories = append(d.Categories, choice{c, label(c), !slices.Contains(p.GetOptedOutCategories(), c)})
	}
	for _, t := range s.topics(p.GetOptedOutTopics()) {
		d.Topics = append(d.Topics, choice{t, t, !slices.Contains(p.GetOptedOutTopics(), t)}) // by name: it is what customers type
	}
	d.Zones = zoneGroups(d.TimeZone)
	d.Digest, d.DigestAt = s.digestChoices(p), p.GetDigest().GetAt()
	return d
}

// withForm puts what the customer sent back on the page, so that a
// mistake in one field loses nothing they typed in the others.
func (s *Server) withForm(d prefsPageData, f url.Values) prefsPageData {
	if f.Get("action") == "leave" {
		d.LeaveUntil = f.Get("until")
		return d
	}
	for i := range d.Modes {
		d.Modes[i].On = d.Modes[i].Name == f.Get("mode")
	}
	d.ModeUntil = f.Get("mode_until")
	for i := range d.Channels {
		d.Channels[i].On = slices.Contains(f["channel"], d.Channels[i].Name)
	}
	for i := range d.Categories {
		d.Categories[i].On = slices.Contains(f["category"], d.Categories[i].Name)
	}
	for i := range d.Topics {
		if slices.Contains(f["topic_shown"], d.Topics[i].Name) {
			d.Topics[i].On = slices.Contains(f["topic"], d.Topics[i].Name)
		}
	}
	d.TopicOff, d.QuietStart, d.QuietEnd = f.Get("topic_off"), f.Get("quiet_start"), f.Get("quiet_end")
	d.TimeZone = f.Get("time_zone")
	d.Zones = zoneGroups(d.TimeZone)
	s.withDigestForm(&d, f)
	return d
}

// label turns a name into words: "order-updates" reads "Order updates".
func label(name string) string {
	if name == "" {
		return ""
	}
	r := strings.NewReplacer("_", " ", "-", " ")
	return strings.ToUpper(name[:1]) + r.Replace(name[1:])
}

// categories a customer can switch off: every category of the policy but
// the critical ones, which are never blocked.
func (s *Server) categories() []string {
	var out []string
	for _, c := range s.o.Policy.CategoryNames() {
		if cl, _ := s.o.Policy.ClassOf(c); cl != policy.ClassCritical {
			out = append(out, c)
		}
	}
	return out
}

// topics the page offers: those the policy declares (but not in critical
// categories) and those the customer has switched off, in the declared
// spelling when one matches.
func (s *Server) topics(off []string) []string {
	var out []string
	for _, t := range s.o.Policy.Topics() {
		if cl, _ := s.o.Policy.ClassOf(t.Category); cl != policy.ClassCritical {
			out = append(out, t.Name)
		}
	}
	for _, t := range off {
		if name, ok := s.o.Policy.TopicNamed(t); ok {
			t = name
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (s *Server) pageClaims(w http.ResponseWriter, r *http.Request) (links.Claims, bool) {
	c, err := s.o.Links.Verify(r.PathValue("token"), links.KindPreferences, s.o.Now())
	if err != nil {
		code, msg := linkError(err)
		d := s.pageData("Your contact preferences")
		d.Error = msg
		s.render(w, code, "preferences.html", d)
		return c, false
	}
	return c, true
}

func (s *Server) pageFailure(w http.ResponseWriter, code int, msg string) {
	d := s.pageData("Your contact preferences")
	d.Error = msg
	s.render(w, code, "preferences.html", d)
}

func (s *Server) preferencePage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pageClaims(w, r)
	if !ok {
		return
	}
	p, _, err := s.o.Consent.Get(r.Context(), c.Customer)
	if err != nil {
		s.o.Logger.Error("preference page", "customer_id", c.Customer, "err", err)
		s.pageFailure(w, http.StatusServiceUnavailable, "We could not load your choices right now. Please try again in a minute.")
		return
	}
	d := s.prefsPageData(p)
	d.Saved = r.URL.Query().Get("saved") == "1"
	d.History = s.pageHistory(r.Context(), c.Customer, p)
	s.render(w, http.StatusOK, "preferences.html", d)
}

// preferencePost applies the page's forms, then redirects to the page
// (post/redirect/get), so a reload never submits twice.
func (s *Server) preferencePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, ok := s.pageClaims(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.pageFailure(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := r.PostForm
	mutate := func(p *hushv1.Preferences) error {
		switch f.Get("action") {
		case "leave":
			p.Mode = hushv1.Mode_MODE_DO_NOTHING
			p.ModeUntil = nil
			return setUntil(p, f.Get("until"), "until", s.o.Now())
		case "save":
		default:
			return badField("action", "unknown form")
		}
		m, ok := ParseMode(f.Get("mode"))
		if !ok {
			return badField("mode", "choose how much we may contact you")
		}
		p.Mode, p.ModeUntil = m, nil
		if m != hushv1.Mode_MODE_NORMAL {
			if err := setUntil(p, f.Get("mode_until"), "mode_until", s.o.Now()); err != nil {
				return err
			}
		}
		p.OptedOutChannels = nil
		for _, ch := range policy.Channels {
			if !slices.Contains(f["channel"], ch) {
				p.OptedOutChannels = append(p.OptedOutChannels, ch)
			}
		}
		var cats []string
		for _, cat := range p.OptedOutCategories { // keep what the page does not show
			if cl, ok := s.o.Policy.ClassOf(cat); !ok || cl == policy.ClassCritical {
				cats = append(cats, cat)
			}
		}
		for _, cat := range s.categories() {
			if !slices.Contains(f["category"], cat) {
				cats = append(cats, cat)
			}
		}
		p.OptedOutCategories = cats
		p.OptedOutTopics = s.formTopics(p.OptedOutTopics, f)
		qs, qe := f.Get("quiet_start"), f.Get("quiet_end")
		switch {
		case qs == "" && qe == "":
			p.QuietHours = nil
		case qs == "":
			return badField("quiet_hours.start", "give both times, or neither")
		case qe == "":
			return badField("quiet_hours.end", "give both times, or neither")
		default:
			p.QuietHours = &hushv1.QuietHours{Start: qs, End: qe}
		}
		p.TimeZone = strings.TrimSpace(f.Get("time_zone"))
		return s.formDigest(p, f)
	}
	if _, err := s.apply(r.Context(), c.Customer, "customer", consent.ViaPage, nil, mutate); err != nil {
		var fe *fieldError
		p, _, gerr := s.o.Consent.Get(r.Context(), c.Customer)
		if gerr != nil || !errors.As(err, &fe) {
			s.o.Logger.Error("preference page", "customer_id", c.Customer, "err", err)
			s.pageFailure(w, http.StatusServiceUnavailable, "We could not save your choices right now. Please try again in a minute.")
			return
		}
		d := s.withForm(s.prefsPageData(p), f)
		d.Invalid, d.FieldError = pageField(fe), pageFieldError(fe)
		d.Error = "Nothing was saved yet: " + d.FieldError + " Your other choices are kept below."
		s.render(w, http.StatusBadRequest, "preferences.html", d)
		return
	}
	http.Redirect(w, r, r.URL.Path+"?saved=1", http.StatusSeeOther)
}

// formTopics applies the topic part of the form to the customer's
// switched-off topics: a topic the page showed is off unless ticked, one it
// did not show is kept, and a typed topic is switched off in the spelling
// the policy declares (intents name topics exactly).
func (s *Server) formTopics(off []string, f url.Values) []string {
	var out []string
	add := func(t string) {
		if name, ok := s.o.Policy.TopicNamed(t); ok {
			t = name
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, t := range off {
		canon := t
		if name, ok := s.o.Policy.TopicNamed(t); ok {
			canon = name
		}
		if !slices.Contains(f["topic_shown"], canon) {
			add(t) // not on the page the customer saw: unchanged
		}
	}
	for _, t := range f["topic_shown"] {
		if !slices.Contains(f["topic"], t) {
			add(t)
		}
	}
	if t := strings.TrimSpace(f.Get("topic_off")); t != "" {
		add(t)
	}
	return out
}

// pageField is the id of the page's field that a fieldError names.
func pageField(fe *fieldError) string {
	switch {
	case fe.Field == "quiet_hours.end":
		return "quiet-end"
	case strings.HasPrefix(fe.Field, "quiet_hours"):
		return "quiet-start"
	case fe.Field == "time_zone":
		return "tz"
	case strings.HasPrefix(fe.Field, "opted_out_topics"):
		return "topic-off"
	case fe.Field == "until":
		return "leave-until"
	case fe.Field == "mode_until":
		return "mode-until"
	case fe.Field == "mode":
		return "mode"
	case strings.HasPrefix(fe.Field, "digest"):
		return "digest-at"
	}
	return ""
}

func pageFieldError(fe *fieldError) string {
	switch {
	case strings.HasPrefix(fe.Field, "quiet_hours"):
		return "For quiet hours, " + fe.Msg + "."
	case fe.Field == "time_zone":
		return "The time zone is not one we know; choose one from the list."
	case strings.HasPrefix(fe.Field, "opted_out_topics"):
		return "A topic name may only use letters, digits and . _ : / -."
	case fe.Field == "until" || fe.Field == "mode_until":
		return "The end date " + fe.Msg + "."
	case fe.Field == "mode":
		return "Choose how much we may contact you."
	case strings.HasPrefix(fe.Field, "digest"):
		return "For your daily summary, " + fe.Msg + "."
	}
	return fe.Error() + "."
}

// setUntil reads an optional end date (YYYY-MM-DD, the end of that day in
// UTC).
func setUntil(p *hushv1.Preferences, v, field string, now time.Time) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return badField(field, "must be a date like 2027-01-31")
	}
	end := d.Add(24 * time.Hour)
	if !end.After(now) {
		return badField(field, "is in the past")
	}
	p.ModeUntil = timestamppb.New(end)
	return nil
}
