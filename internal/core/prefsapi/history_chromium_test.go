package prefsapi_test

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// historyShown is what a reader sees of the history section.
type historyShown struct {
	Stopped  []string `json:"stopped"`
	Sent     []string `json:"sent"`
	Attempts int      `json:"attempts"`
	// Hidden counts history lines a reader cannot see (zero size).
	Hidden int `json:"hidden"`
}

const historyShownJS = `(() => {
  const texts = sel => [...document.querySelectorAll(sel)].map(l => l.innerText.trim());
  const lines = [...document.querySelectorAll('#history-h ~ ul li')];
  return {stopped: texts('#stopped li'), sent: texts('#sent li'), attempts: document.querySelectorAll('#attempts li').length,
    hidden: lines.filter(l => { const r = l.getBoundingClientRect(); return r.width === 0 || r.height === 0 }).length};
})()`

// TestContactHistoryInChromium opens the preference page of a customer
// after a known set of intents in headless Chromium, at desktop and phone
// sizes: the grouped sentences and every attempt are shown, nothing scrolls
// sideways, and axe-core finds no serious or critical violation. With
// HUSH_UPDATE_SCREENSHOTS=1 it writes docs/img/preferences-history-phone.png.
func TestContactHistoryInChromium(t *testing.T) {
	axeJS, err := os.ReadFile(npmTool(t, "axe-core/axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	e := newEnv(t)
	e.historyWorkload("mia")
	page := e.signer.PreferencesURL(e.srv.URL, "mia", time.Hour, time.Now())
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			emulate := chromedp.EmulateViewport(vp.width, vp.height)
			if vp.phone {
				emulate = chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateMobile)
			}
			var c pageChecks
			var h historyShown
			var axe axeResult
			var shot []byte
			if err := chromedp.Do(ctx, emulate, chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("footer")),
				into(&c, chromedp.Evaluate[pageChecks](pageChecksJS)),
				into(&h, chromedp.Evaluate[historyShown](historyShownJS)),
				chromedp.Evaluate[chromedp.Void](string(axeJS)),
				into(&axe, chromedp.Evaluate[axeResult](axeRunJS, chromedp.EvalAwaitPromise)),
				into(&shot, chromedp.FullScreenshot(100)),
			); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Stopped, wantStopped) || !slices.Equal(h.Sent, wantSent) || h.Attempts != 8 || h.Hidden != 0 {
				t.Errorf("the page shows stopped %q, sent %q, %d attempts (%d hidden); want %q, %q, 8", h.Stopped, h.Sent, h.Attempts, h.Hidden, wantStopped, wantSent)
			}
			if len(c.Unlabelled) > 0 || !c.Landmarks || c.H1 != 1 || c.Width > vp.width {
				t.Errorf("unlabelled controls %v, landmarks %v, %d h1, %dpx wide on a %dpx screen", c.Unlabelled, c.Landmarks, c.H1, c.Width, vp.width)
			}
			if axe.Passes == 0 {
				t.Error("axe-core checked nothing")
			}
			for _, v := range axe.Violations {
				msg := fmt.Sprintf("axe-core %s (%s): %s at %v", v.ID, v.Impact, v.Help, v.Nodes)
				if v.Impact == "serious" || v.Impact == "critical" {
					t.Error(msg)
				} else {
					t.Log(msg)
				}
			}
			if !vp.phone || os.Getenv("HUSH_UPDATE_SCREENSHOTS") != "1" {
				return
			}
			p := filepath.Join(repoRoot(t), "docs", "img", "preferences-history-phone.png")
			if err := os.WriteFile(p, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", p)
		})
	}
}

// TestContactHistoryScreenshot reads back the committed picture of the
// history on a phone: as wide as the phone, not blank.
func TestContactHistoryScreenshot(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "img", "preferences-history-phone.png"))
	if err != nil {
		t.Fatalf("%v (regenerate: HUSH_UPDATE_SCREENSHOTS=1 go test -run InChromium ./internal/core/prefsapi)", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != 375 || r.Dy() < 800 {
		t.Errorf("%dx%d, want 375 wide and the whole page", r.Dx(), r.Dy())
	}
	if ink := inked(img); ink < 0.01 {
		t.Errorf("nearly blank: %.1f%% of pixels are not background", 100*ink)
	}
}
