package prefsapi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// TestPreferencePageDailySummaryInChromium: a customer chooses "send me one
// summary a day at 19:30" for surveys in real Chromium; a survey decided
// afterwards is folded into their digest, and a time without a kind of
// message is refused with the field marked.
func TestPreferencePageDailySummaryInChromium(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t)
	e.startGatekeeper()
	page := e.signer.PreferencesURL(e.srv.URL, "dora", time.Hour, time.Now())

	var offered []string
	err := chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("digest-at")),
		into(&offered, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input[name=digest_category]')].map(i => i.value)`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	// critical and transactional contacts never wait for a summary
	if slices.Contains(offered, "critical") || slices.Contains(offered, "transactional") || !slices.Contains(offered, "survey") {
		t.Fatalf("the page offers a summary of %v", offered)
	}

	var errText, invalid string
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("digest-at"), "19:30"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("error")),
		into(&errText, chromedp.Text(chromedp.ID("digest-error"))),
		into(&invalid, chromedp.Evaluate[string](`document.getElementById('digest-at').getAttribute('aria-invalid') || ''`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errText, "tick at least one kind of message") || invalid != "true" {
		t.Errorf("a time alone: error %q, aria-invalid %q", errText, invalid)
	}
	if p, _ := e.prefsInRedis("dora"); p.GetDigest() != nil {
		t.Fatalf("saved despite the error: %v", p)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("digest-at")),
		chromedp.Click(chromedp.CSS(`input[name=digest_category][value=survey]`)),
		chromedp.SetValue(chromedp.ID("digest-at"), "19:30"),
		chromedp.SetValue(chromedp.ID("tz"), "Europe/Paris"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("saved")),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.prefsInRedis("dora")
	if !slices.Equal(p.GetDigest().GetCategories(), []string{"survey"}) || p.GetDigest().GetAt() != "19:30" {
		t.Fatalf("Redis: %v; want a survey digest at 19:30", p)
	}
	d := e.decide("nps-1", "dora", "email", "survey")
	if d.GetOutcome() != hushv1.Outcome_OUTCOME_FOLDED || d.GetDigestId() == "" {
		t.Fatalf("a survey after the choice: %v; want folded", d)
	}
	if d := e.decide("offer-1", "dora", "email", "marketing"); d.GetOutcome() != hushv1.Outcome_OUTCOME_APPROVED {
		t.Fatalf("marketing, not in the summary: %v; want approved", d)
	}
	var ticked bool
	err = chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(chromedp.ID("digest-at")),
		into(&ticked, chromedp.Evaluate[bool](`document.querySelector('input[name=digest_category][value=survey]').checked && document.getElementById('digest-at').value === '19:30'`)),
	)
	if err != nil || !ticked {
		t.Fatalf("the page does not show the saved summary (%v)", err)
	}
}
