package prefsapi

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
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
// page run no script at all.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
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
	Title, What, Error string
	Done               bool
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
		s.render(w, code, "unsubscribe.html", unsubscribeData{Title: "Unsubscribe", Error: msg})
		return
	}
	s.render(w, http.StatusOK, "unsubscribe.html", unsubscribeData{Title: "Unsubscribe", What: unsubscribeWhat(c)})
}

// unsubscribe is RFC 8058's one-click POST: the body must carry
// List-Unsubscribe=One-Click; mail providers send no cookies and follow no
// redirects, so the answer is a plain 200.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	c, err := s.o.Links.Verify(r.PathValue("token"), links.KindUnsubscribe, s.o.Now())
	if err != nil {
		code, msg := linkError(err)
		s.render(w, code, "unsubscribe.html", unsubscribeData{Title: "Unsubscribe", Error: msg})
		return
	}
	if err := r.ParseMultipartForm(8 << 10); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		s.render(w, http.StatusBadRequest, "unsubscribe.html", unsubscribeData{Title: "Unsubscribe", Error: "The request could not be read."})
		return
	}
	if r.PostFormValue("List-Unsubscribe") != "One-Click" {
		s.render(w, http.StatusBadRequest, "unsubscribe.html", unsubscribeData{Title: "Unsubscribe",
			Error: "The request must carry List-Unsubscribe=One-Click (RFC 8058)."})
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
		s.render(w, http.StatusServiceUnavailable, "unsubscribe.html", unsubscribeData{Title: "Unsubscribe",
			Error: "We could not record this right now. Please try again in a minute."})
		return
	}
	s.render(w, http.StatusOK, "unsubscribe.html", unsubscribeData{Title: "Unsubscribed", What: unsubscribeWhat(c), Done: true})
}

type choice struct {
	Name, Label string
	On          bool
}

type prefsPageData struct {
	Title, Error, Summary, Mode, ModeUntil, Today string
	QuietStart, QuietEnd, TimeZone                string
	Saved                                         bool
	Channels, Categories, Topics                  []choice
}

// summary says in one sentence what Hush does for the customer now.
func summary(p *hushv1.Preferences, now time.Time) string {
	until := ""
	if u := p.GetModeUntil(); u != nil {
		if !now.Before(u.AsTime()) {
			return "We contact you as you chose below."
		}
		until = " until " + u.AsTime().UTC().Format("2 January 2006")
	}
	switch {
	case p.GetConsentRevoked():
		return "You withdrew your consent: we only contact you about security, fraud or legal matters."
	case p.GetCareHold() != nil:
		return "We are not contacting you for now, except about security, fraud or legal matters, or to answer you."
	case p.GetMode() == hushv1.Mode_MODE_DO_NOTHING:
		return "You asked us to leave you alone" + until + ": only security, fraud or legal matters, and answers when you contact us."
	case p.GetMode() == hushv1.Mode_MODE_ESSENTIAL_ONLY:
		return "You receive essential messages only" + until + "."
	}
	return "We contact you as you chose below."
}

func (s *Server) prefsPageData(p *hushv1.Preferences) prefsPageData {
	now := s.o.Now()
	d := prefsPageData{Title: "Your contact preferences", Summary: summary(p, now), Mode: ModeName(p.GetMode()),
		Today: now.UTC().Format(time.DateOnly), TimeZone: p.GetTimeZone(),
		QuietStart: p.GetQuietHours().GetStart(), QuietEnd: p.GetQuietHours().GetEnd()}
	if u := p.GetModeUntil(); u != nil {
		d.ModeUntil = u.AsTime().UTC().Format(time.DateOnly)
	}
	for _, c := range policy.Channels {
		d.Channels = append(d.Channels, choice{c, channelLabels[c], !slices.Contains(p.GetOptedOutChannels(), c)})
	}
	for _, c := range s.categories() {
		d.Categories = append(d.Categories, choice{c, strings.ToUpper(c[:1]) + strings.ReplaceAll(c[1:], "_", " "), !slices.Contains(p.GetOptedOutCategories(), c)})
	}
	for _, t := range p.GetOptedOutTopics() {
		d.Topics = append(d.Topics, choice{t, t, false})
	}
	return d
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

func (s *Server) pageClaims(w http.ResponseWriter, r *http.Request) (links.Claims, bool) {
	c, err := s.o.Links.Verify(r.PathValue("token"), links.KindPreferences, s.o.Now())
	if err != nil {
		code, msg := linkError(err)
		s.render(w, code, "preferences.html", prefsPageData{Title: "Your contact preferences", Error: msg})
		return c, false
	}
	return c, true
}

func (s *Server) preferencePage(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pageClaims(w, r)
	if !ok {
		return
	}
	p, _, err := s.o.Consent.Get(r.Context(), c.Customer)
	if err != nil {
		s.o.Logger.Error("preference page", "customer_id", c.Customer, "err", err)
		s.render(w, http.StatusServiceUnavailable, "preferences.html", prefsPageData{Title: "Your contact preferences",
			Error: "We could not load your choices right now. Please try again in a minute."})
		return
	}
	d := s.prefsPageData(p)
	d.Saved = r.URL.Query().Get("saved") == "1"
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
		s.render(w, http.StatusBadRequest, "preferences.html", prefsPageData{Title: "Your contact preferences", Error: "The form could not be read."})
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
		var topics []string
		for _, t := range p.OptedOutTopics {
			if !slices.Contains(f["topic"], t) { // ticked: switched back on
				topics = append(topics, t)
			}
		}
		if t := strings.TrimSpace(f.Get("topic_off")); t != "" && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
		p.OptedOutTopics = topics
		qs, qe := f.Get("quiet_start"), f.Get("quiet_end")
		switch {
		case qs == "" && qe == "":
			p.QuietHours = nil
		case qs == "" || qe == "":
			return badField("quiet_hours", "give both times, or neither")
		default:
			p.QuietHours = &hushv1.QuietHours{Start: qs, End: qe}
		}
		p.TimeZone = strings.TrimSpace(f.Get("time_zone"))
		return nil
	}
	if _, err := s.apply(r.Context(), c.Customer, "customer", consent.ViaPage, nil, mutate); err != nil {
		var fe *fieldError
		p, _, gerr := s.o.Consent.Get(r.Context(), c.Customer)
		if gerr != nil || !errors.As(err, &fe) {
			s.o.Logger.Error("preference page", "customer_id", c.Customer, "err", err)
			s.render(w, http.StatusServiceUnavailable, "preferences.html", prefsPageData{Title: "Your contact preferences",
				Error: "We could not save your choices right now. Please try again in a minute."})
			return
		}
		d := s.prefsPageData(p)
		d.Error = "Nothing was saved: " + pageFieldError(fe)
		s.render(w, http.StatusBadRequest, "preferences.html", d)
		return
	}
	http.Redirect(w, r, r.URL.Path+"?saved=1", http.StatusSeeOther)
}

func pageFieldError(fe *fieldError) string {
	switch {
	case strings.HasPrefix(fe.Field, "quiet_hours"):
		return "quiet hours: " + fe.Msg + "."
	case fe.Field == "time_zone":
		return "the time zone is not one we know (for example Europe/Paris)."
	case strings.HasPrefix(fe.Field, "opted_out_topics"):
		return "a topic name may only use letters, digits and . _ : / -."
	case fe.Field == "until" || fe.Field == "mode_until":
		return "the end date " + fe.Msg + "."
	}
	return fe.Error()
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
