package prefsapi_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/pkg/links"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var modeLets = regexp.MustCompile(`<span class="lets" id="lets-([a-z_]+)">([^<]*)</span>`)

// TestPreferencePageWordsFollowThePolicy: what the page says each mode lets
// through comes from the policy's own statement of the modes, and the three
// choices say different things: only "leave me alone" leaves out receipts.
func TestPreferencePageWordsFollowThePolicy(t *testing.T) {
	e := newEnv(t)
	code, page := get(t, e.signer.PreferencesURL(e.srv.URL, "gina", time.Hour, time.Now()))
	if code != 200 {
		t.Fatalf("page: %d", code)
	}
	words := map[string]string{}
	for _, m := range modeLets.FindAllStringSubmatch(page, -1) {
		words[m[1]] = html.UnescapeString(m[2])
	}
	want := map[string]string{
		"normal":         "Everything you have not switched off below.",
		"essential_only": "Only security, fraud or legal matters, messages about something you did, like receipts and password resets, and answers when you contact us.",
		"do_nothing":     "Only security, fraud or legal matters, and answers when you contact us.",
	}
	for mode, w := range want {
		if words[mode] != w {
			t.Errorf("%s says %q, want %q", mode, words[mode], w)
		}
	}
	if !strings.Contains(html.UnescapeString(page), "We will send you only security, fraud or legal matters, and answers when you contact us.") {
		t.Error(`the "Leave me alone" button does not say what it lets through`)
	}
	for _, m := range []hushv1.Mode{hushv1.Mode_MODE_ESSENTIAL_ONLY, hushv1.Mode_MODE_DO_NOTHING} {
		s := e.pol.ModeLets(m)
		for _, cat := range e.pol.CategoryNames() {
			class, _ := e.pol.ClassOf(cat)
			if says := strings.Contains(words[strings.ToLower(strings.TrimPrefix(m.String(), "MODE_"))], "receipts"); cat == "transactional" && says != s.Lets(class, false) {
				t.Errorf("%v: the page says receipts %v, the policy lets transactional through %v", m, says, s.Lets(class, false))
			}
		}
	}
	if !strings.Contains(page, "<title>Your contact preferences with "+brand+"</title>") || !strings.Contains(page, "<strong>"+brand+"</strong>") {
		t.Error("the page does not say whose preferences these are")
	}
}

// TestPreferencePageKeepsInputOnError: a wrong value is marked, and
// nothing else the customer chose is lost.
func TestPreferencePageKeepsInputOnError(t *testing.T) {
	e := newEnv(t)
	page := e.signer.PreferencesURL(e.srv.URL, "hugo", time.Hour, time.Now())
	form := url.Values{"action": {"save"}, "mode": {"essential_only"}, "mode_until": {"2099-01-31"},
		"channel": {"email", "push"}, "category": {"service"}, "topic_shown": {"newsletter", "nps"}, "topic": {"nps"},
		"topic_off": {"gardening"}, "quiet_start": {"22:15"}, "quiet_end": {"06:45"}, "time_zone": {"Mars/Olympus_Mons"}}
	code, body := postForm(t, page, form)
	if code != 400 {
		t.Fatalf("bad time zone: %d, want 400", code)
	}
	for _, want := range []string{
		`<select id="tz" name="time_zone" aria-invalid="true" aria-describedby="tz-error">`,
		`<p class="field-error" id="tz-error">The time zone is not one we know; choose one from the list.</p>`,
		`<option value="Mars/Olympus_Mons" selected>`,
		`href="#tz"`,
		`value="essential_only" aria-describedby="lets-essential_only" checked`,
		`name="mode_until" value="2099-01-31"`,
		`value="email" checked`, `value="push" checked`, `value="service" checked`,
		`name="topic" value="nps" checked`,
		`name="topic_off" value="gardening"`,
		`name="quiet_start" value="22:15"`, `name="quiet_end" value="06:45"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page after the error lacks %s", want)
		}
	}
	for _, lost := range []string{`value="sms" checked`, `value="marketing" checked`, `name="topic" value="newsletter" checked`} {
		if strings.Contains(body, lost) {
			t.Errorf("the page after the error ticks %s again", lost)
		}
	}
	if _, v := e.prefsInRedis("hugo"); v != 0 {
		t.Fatal("a form with an error changed the preferences")
	}

	// Half-filled quiet hours mark the empty one.
	form.Set("time_zone", "Europe/Paris")
	form.Set("quiet_end", "")
	code, body = postForm(t, page, form)
	if code != 400 || !strings.Contains(body, `name="quiet_end" value="" aria-invalid="true"`) || !strings.Contains(body, `<option value="Europe/Paris" selected>`) {
		t.Fatalf("half-filled quiet hours: %d, the end not marked or the zone lost", code)
	}
}

// TestPreferencePageOffersDeclaredTopics: the policy's topics are offered
// by name, and a typed topic is matched to them without regard to case.
func TestPreferencePageOffersDeclaredTopics(t *testing.T) {
	e := newEnv(t)
	page := e.signer.PreferencesURL(e.srv.URL, "iris", time.Hour, time.Now())
	_, body := get(t, page)
	for _, tp := range e.pol.Topics() {
		if !strings.Contains(body, `name="topic" value="`+tp.Name+`" checked`) {
			t.Errorf("declared topic %s is not offered", tp.Name)
		}
	}
	form := url.Values{"action": {"save"}, "mode": {"normal"}, "channel": {"email"}, "category": {"marketing", "service", "support", "survey", "transactional"},
		"topic_shown": {"newsletter", "nps"}, "topic": {"newsletter"}, "topic_off": {"Black-Friday"}}
	if code, body := postForm(t, page, form); code != 200 {
		t.Fatalf("save: %d\n%s", code, body)
	}
	p, _ := e.prefsInRedis("iris")
	if !slices.Equal(p.GetOptedOutTopics(), []string{"nps", "black-friday"}) {
		t.Fatalf("opted-out topics %q, want nps and black-friday as the policy spells it", p.GetOptedOutTopics())
	}
}

// TestUnsubscribePageLinksToPreferences: the unsubscribe pages name the
// brand and lead to the customer's preference page.
func TestUnsubscribePageLinksToPreferences(t *testing.T) {
	e := newEnv(t)
	u := e.signer.UnsubscribeURL(e.srv.URL, links.Claims{Customer: "jude", Category: "marketing", Expires: time.Now().Add(time.Hour).Unix()})
	for _, step := range []string{"confirm", "done"} {
		var body string
		if step == "confirm" {
			_, body = get(t, u)
		} else {
			_, body = postForm(t, u, url.Values{"List-Unsubscribe": {"One-Click"}})
		}
		m := regexp.MustCompile(`<a href="(/p/[^"]+)" id="preferences">([^<]*)</a>`).FindStringSubmatch(body)
		if m == nil || !strings.Contains(m[2], brand) || !strings.Contains(body, "<strong>"+brand+"</strong>") {
			t.Fatalf("%s page: no link to the preferences naming %s\n%s", step, brand, body)
		}
		code, pref := get(t, e.srv.URL+html.UnescapeString(m[1]))
		if code != 200 || !strings.Contains(pref, `id="current"`) {
			t.Fatalf("%s page's preferences link: %d", step, code)
		}
	}
}
