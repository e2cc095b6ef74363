package prefsapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/pkg/links"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func postForm(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	res, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

func TestOneClickUnsubscribeSuppressesTheNextIntent(t *testing.T) {
	e := newEnv(t)
	e.startGatekeeper()
	if d := e.decide("before", "carol", "email", "marketing"); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("before unsubscribing: %v", d)
	}

	// The header a channel sender puts on the email, as a mail provider
	// reads it.
	it := &hushv1.ContactIntent{CustomerId: "carol", Channel: "email", Category: "marketing"}
	lu, post := e.signer.ListUnsubscribeHeaders(e.srv.URL, it, links.HeaderOptions{Channel: true})
	if post != "List-Unsubscribe=One-Click" || !strings.HasPrefix(lu, "<"+e.srv.URL+"/u/") {
		t.Fatalf("headers %q, %q", lu, post)
	}
	target := strings.Trim(lu, "<>")

	// GET shows a confirmation page and changes nothing.
	res, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("GET %d, Referrer-Policy %q", res.StatusCode, res.Header.Get("Referrer-Policy"))
	}
	if _, v := e.prefsInRedis("carol"); v != 0 {
		t.Fatal("GET must not unsubscribe (link scanners follow links)")
	}

	// RFC 8058: a POST without the one-click body is refused.
	if code, _ := postForm(t, target, url.Values{}); code != 400 {
		t.Fatalf("POST without List-Unsubscribe=One-Click: %d, want 400", code)
	}
	// The mail provider's POST, as multipart like some providers send it.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("List-Unsubscribe", "One-Click")
	mw.Close()
	res, err = http.Post(target, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("one-click POST: %d", res.StatusCode)
	}
	if code, _ := postForm(t, target, url.Values{"List-Unsubscribe": {"One-Click"}}); code != 200 {
		t.Fatalf("repeated one-click POST: %d, want 200", code)
	}

	p, v := e.prefsInRedis("carol")
	if !slices.Equal(p.GetOptedOutChannels(), []string{"email"}) || v != 1 {
		t.Fatalf("Redis: %v at version %d; want email opted out once", p, v)
	}
	hist := e.history("carol")
	if len(hist) != 1 || hist[0].GetVia() != "one_click_unsubscribe" || hist[0].GetActor() != "customer" {
		t.Fatalf("history %v", hist)
	}
	d := e.decide("after", "carol", "email", "marketing")
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_OPTED_OUT {
		t.Fatalf("after unsubscribing: %v; want suppressed opted_out", d)
	}
}

func TestOneClickUnsubscribeByCategory(t *testing.T) {
	e := newEnv(t)
	lu, _ := e.signer.ListUnsubscribeHeaders(e.srv.URL, &hushv1.ContactIntent{CustomerId: "dan", Channel: "email", Category: "survey"}, links.HeaderOptions{})
	if code, _ := postForm(t, strings.Trim(lu, "<>"), url.Values{"List-Unsubscribe": {"One-Click"}}); code != 200 {
		t.Fatalf("one-click POST: %d", code)
	}
	if p, _ := e.prefsInRedis("dan"); !slices.Equal(p.GetOptedOutCategories(), []string{"survey"}) || len(p.GetOptedOutChannels()) != 0 {
		t.Fatalf("Redis: %v; want the survey category opted out, channels untouched", p)
	}
}

func TestBadUnsubscribeLinks(t *testing.T) {
	e := newEnv(t)
	expired := e.signer.UnsubscribeURL(e.srv.URL, links.Claims{Customer: "carol", Channel: "email", Expires: time.Now().Add(-time.Minute).Unix()})
	pageLink := e.signer.PreferencesURL(e.srv.URL, "carol", time.Hour, time.Now())
	forged, _ := links.NewSigner(bytes.Repeat([]byte("x"), 32))
	tests := []struct {
		name, url string
		want      int
	}{
		{"expired", expired, 410},
		{"preference link used to unsubscribe", strings.Replace(pageLink, "/p/", "/u/", 1), 404},
		{"signed with another key", forged.UnsubscribeURL(e.srv.URL, links.Claims{Customer: "carol", Channel: "email", Expires: time.Now().Add(time.Hour).Unix()}), 404},
		{"garbage", e.srv.URL + "/u/hello", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := postForm(t, tt.url, url.Values{"List-Unsubscribe": {"One-Click"}}); code != tt.want {
				t.Errorf("POST %d, want %d", code, tt.want)
			}
		})
	}
	if _, v := e.prefsInRedis("carol"); v != 0 {
		t.Fatal("a bad link changed preferences")
	}
}

func TestLinksForSendersInOtherLanguages(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "POST", "/v1/customers/gina/links", staffToken, `{"kind":"unsubscribe","category":"marketing","ttl":"24h"}`)
	m := r.json(t)
	if m["list_unsubscribe_post"] != "List-Unsubscribe=One-Click" || !strings.HasPrefix(m["list_unsubscribe"].(string), "<") {
		t.Fatalf("headers %v", m)
	}
	if !strings.HasPrefix(m["url"].(string), publicURL+"/u/") || m["list_unsubscribe"] != "<"+m["url"].(string)+">" {
		t.Fatalf("link %v; want it under %s", m, publicURL)
	}
	u, err := url.Parse(m["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := postForm(t, e.srv.URL+u.Path, url.Values{"List-Unsubscribe": {"One-Click"}}); code != 200 {
		t.Fatalf("one-click POST on the made link: %d", code)
	}
	if p, _ := e.prefsInRedis("gina"); !slices.Equal(p.GetOptedOutCategories(), []string{"marketing"}) {
		t.Fatalf("Redis: %v", p)
	}

	r = e.must(200, "POST", "/v1/customers/gina/links", adminToken, `{"kind":"preferences"}`)
	pu, _ := url.Parse(r.json(t)["url"].(string))
	res, err := http.Get(e.srv.URL + pu.Path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("preference link: %d", res.StatusCode)
	}

	e.must(403, "POST", "/v1/customers/gina/links", aliceToken, `{"kind":"preferences"}`)
	for body, field := range map[string]string{
		`{"kind":"coupon"}`:                          "kind",
		`{"kind":"unsubscribe"}`:                     "category",
		`{"kind":"unsubscribe","channel":"fax"}`:     "channel",
		`{"kind":"unsubscribe","category":"gossip"}`: "category",
		`{"kind":"preferences","ttl":"forever"}`:     "ttl",
	} {
		if got := e.must(400, "POST", "/v1/customers/gina/links", staffToken, body).json(t)["field"]; got != field {
			t.Errorf("%s: field %v, want %s", body, got, field)
		}
	}
}
