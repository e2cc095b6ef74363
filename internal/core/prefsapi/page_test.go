package prefsapi_test

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hush-oss/hush/internal/dev/testenv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// chromium returns the path of a Chromium binary; without one the test is
// skipped, or fails under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed: the preference page is tested in real headless Chromium.\n" +
		"Install it (Debian/Ubuntu: sudo apt-get install chromium, or `make test-deps` as root)."
	testenv.Missing(t, msg)
	return ""
}

// browser starts a headless Chromium with a fresh profile, closed when the
// test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), // screenshots as wide as the screen
		chromedp.UserDataDir(t.TempDir()),
		// The browser's own time zone, which the page offers as the default.
		chromedp.Env("TZ=Europe/Paris"),
		chromedp.WindowSize(375, 812), // a phone
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tctx
}

// into runs a and stores its value in dst, so values can be read inside one
// chromedp.Do.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		*dst = v
		return chromedp.Void{}, nil
	}
}

func TestPreferencePageLeaveMeAloneInChromium(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)
	e.startGatekeeper()
	if d := e.decide("before", "erin", "email", "marketing"); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("before: %v", d)
	}
	page := e.signer.PreferencesURL(e.srv.URL, "erin", time.Hour, time.Now())

	var current string
	var unlabelled, overflow int
	var landmarks bool
	err := chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("leave")),
		into(&current, chromedp.Text(chromedp.ID("current"))),
		// Accessible: every visible control has a label, the page has its
		// landmarks and a language; mobile-friendly: no sideways scrolling.
		into(&unlabelled, chromedp.Evaluate[int](`[...document.querySelectorAll('input:not([type=hidden])')].filter(i => i.labels.length === 0).length`)),
		into(&landmarks, chromedp.Evaluate[bool](`!!(document.querySelector('main') && document.querySelector('header') && document.querySelector('footer') && document.documentElement.lang)`)),
		into(&overflow, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(current, "as you chose") {
		t.Errorf("summary before: %q", current)
	}
	if unlabelled != 0 || !landmarks || overflow > 0 {
		t.Errorf("accessibility: %d unlabelled inputs, landmarks %v, %dpx sideways overflow on a phone", unlabelled, landmarks, overflow)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("leave")),
		chromedp.WaitVisible(chromedp.ID("saved")),
		into(&current, chromedp.Text(chromedp.ID("current"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(current, "leave you alone") {
		t.Errorf("summary after: %q", current)
	}
	p, v := e.prefsInRedis("erin")
	if p.GetMode() != hushv1.Mode_MODE_DO_NOTHING || p.GetModeUntil() != nil || v != 1 {
		t.Fatalf("Redis: %v at version %d; want do_nothing", p, v)
	}
	hist := e.history("erin")
	if len(hist) != 1 || hist[0].GetVia() != "preference_page" || hist[0].GetNew().GetMode() != hushv1.Mode_MODE_DO_NOTHING {
		t.Fatalf("history %v", hist)
	}
	d := e.decide("after", "erin", "email", "marketing")
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_SUPPRESSED || d.GetReasons()[0].GetCode() != hushv1.ReasonCode_REASON_CODE_DO_NOTHING {
		t.Fatalf("after: %v; want suppressed do_nothing", d)
	}

	// The switches: back to normal, no SMS, no surveys, quiet hours. The
	// page is loaded afresh (without ?saved=1), so that "saved" appearing
	// means this submission went through.
	err = chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("save")),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=normal]`)),
		chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value=survey]`)),
		chromedp.SetValue(chromedp.ID("quiet-start"), "21:30"),
		chromedp.SetValue(chromedp.ID("quiet-end"), "07:00"),
		chromedp.SetValue(chromedp.ID("tz"), "Europe/Paris"),
		chromedp.SetValue(chromedp.ID("topic-off"), "cooking"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("saved")),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, v = e.prefsInRedis("erin")
	if p.GetMode() != hushv1.Mode_MODE_NORMAL || !slices.Equal(p.GetOptedOutChannels(), []string{"sms"}) ||
		!slices.Equal(p.GetOptedOutCategories(), []string{"survey"}) || !slices.Equal(p.GetOptedOutTopics(), []string{"cooking"}) ||
		p.GetQuietHours().GetStart() != "21:30" || p.GetQuietHours().GetEnd() != "07:00" || p.GetTimeZone() != "Europe/Paris" || v != 2 {
		t.Fatalf("Redis after the switches: %v at version %d", p, v)
	}
}

func TestPreferencePageWithoutABrowser(t *testing.T) {
	e := newEnv(t)
	page := e.signer.PreferencesURL(e.srv.URL, "finn", time.Hour, time.Now())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := client.PostForm(page, url.Values{"action": {"leave"}, "until": {time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("form POST: %d, want 303", res.StatusCode)
	}
	if p, _ := e.prefsInRedis("finn"); p.GetMode() != hushv1.Mode_MODE_DO_NOTHING || p.GetModeUntil() == nil {
		t.Fatalf("Redis: %v; want do_nothing with an end date", p)
	}

	res, err = client.PostForm(page, url.Values{"action": {"save"}, "mode": {"normal"}, "quiet_start": {"22:00"}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(b.String(), "quiet hours") {
		t.Fatalf("half-filled quiet hours: %d, want 400 saying so", res.StatusCode)
	}

	res, err = http.Get(strings.Replace(page, "/p/", "/p/x", 1))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("tampered link: %d, want 404", res.StatusCode)
	}
}
