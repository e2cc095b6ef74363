package prefsapi_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hush-oss/hush/pkg/links"
)

// viewports the preference page is checked and pictured in. The pictures
// are docs/img/preferences-<name>.png.
var viewports = []struct {
	name          string
	width, height int64
	phone         bool
}{
	{"desktop", 1280, 800, false},
	{"phone", 375, 812, true},
}

// pageChecks are what a reader of any screen size needs: every visible
// control labelled, the landmarks and one h1, a language, no sideways
// scrolling.
type pageChecks struct {
	Unlabelled []string `json:"unlabelled"`
	Landmarks  bool     `json:"landmarks"`
	H1         int      `json:"h1"`
	Width      int64    `json:"width"`
	Zone       string   `json:"zone"`
}

const pageChecksJS = `({
  unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(i => i.labels.length === 0 && !i.getAttribute('aria-label')).map(i => i.name || i.id),
  landmarks: !!(document.querySelector('header') && document.querySelector('main') && document.querySelector('footer') && document.documentElement.lang),
  h1: document.querySelectorAll('h1').length,
  width: document.documentElement.scrollWidth,
  zone: (document.getElementById('tz') || {}).value || ''
})`

// axeViolation is one rule axe-core found broken.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

const axeRunJS = `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
  .then(r => ({passes: r.passes.length,
    violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target}))}))}))`

// axeResult is what axeRunJS returns: the violations, and how many rules
// passed (none would mean axe-core did not look at the page).
type axeResult struct {
	Passes     int            `json:"passes"`
	Violations []axeViolation `json:"violations"`
}

// TestPreferencePageInChromiumOnEveryScreen opens the preference page, a
// page with a marked mistake and the unsubscribe page in headless Chromium
// at desktop and phone sizes: labels, landmarks, no sideways scroll, the
// browser's time zone offered, and axe-core finds no serious or critical
// accessibility violation. With HUSH_UPDATE_SCREENSHOTS=1 it writes the
// screenshots of docs/img; TestPreferencePageScreenshots reads them back.
func TestPreferencePageInChromiumOnEveryScreen(t *testing.T) {
	axeJS, err := os.ReadFile(npmTool(t, "axe-core/axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	ctx := browser(t)
	page := e.signer.PreferencesURL(e.srv.URL, "lena", time.Hour, time.Now())
	unsub := e.signer.UnsubscribeURL(e.srv.URL, links.Claims{Customer: "lena", Category: "marketing", Expires: time.Now().Add(time.Hour).Unix()})
	update := os.Getenv("HUSH_UPDATE_SCREENSHOTS") == "1"

	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			emulate := chromedp.EmulateViewport(vp.width, vp.height)
			if vp.phone {
				emulate = chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateMobile)
			}
			check := func(what, url string, prepare ...chromedp.Action[chromedp.Void]) []byte {
				t.Helper()
				var c pageChecks
				var axe axeResult
				var shot []byte
				steps := append([]chromedp.Action[chromedp.Void]{emulate, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("footer"))}, prepare...)
				steps = append(steps,
					into(&c, chromedp.Evaluate[pageChecks](pageChecksJS)),
					chromedp.Evaluate[chromedp.Void](string(axeJS)),
					into(&axe, chromedp.Evaluate[axeResult](axeRunJS, chromedp.EvalAwaitPromise)),
					into(&shot, chromedp.FullScreenshot(100)),
				)
				if err := chromedp.Do(ctx, steps...); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				// A phone browser widens its layout viewport to fit a page
				// too wide, so the page is measured against the screen.
				if len(c.Unlabelled) > 0 || !c.Landmarks || c.H1 != 1 || c.Width > vp.width {
					t.Errorf("%s: unlabelled controls %v, landmarks %v, %d h1, %dpx wide on a %dpx screen", what, c.Unlabelled, c.Landmarks, c.H1, c.Width, vp.width)
				}
				if axe.Passes == 0 {
					t.Errorf("%s: axe-core checked nothing", what)
				}
				for _, v := range axe.Violations {
					msg := fmt.Sprintf("%s: axe-core %s (%s): %s at %v", what, v.ID, v.Impact, v.Help, v.Nodes)
					if v.Impact == "serious" || v.Impact == "critical" {
						t.Error(msg)
					} else {
						t.Log(msg)
					}
				}
				if what == "preferences" && c.Zone != "Europe/Paris" {
					t.Errorf("the time zone offered is %q, want the browser's Europe/Paris", c.Zone)
				}
				return shot
			}
			shots := map[string][]byte{
				"": check("preferences", page),
				"-error": check("a marked mistake", page,
					chromedp.SetValue(chromedp.ID("quiet-start"), "22:00"),
					chromedp.SetValue(chromedp.ID("topic-off"), "gardening"),
					chromedp.Click(chromedp.ID("save")),
					chromedp.WaitVisible(chromedp.ID("error"))),
			}
			check("unsubscribe", unsub)
			if !update {
				return
			}
			for suffix, shot := range shots {
				if suffix != "" && !vp.phone {
					continue // the mistake is pictured on the phone only
				}
				p := filepath.Join(repoRoot(t), "docs", "img", "preferences-"+vp.name+suffix+".png")
				if err := os.WriteFile(p, shot, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s", p)
			}
		})
	}
}

// TestPreferencePageScreenshots reads back the committed screenshots: PNGs
// of the viewports' widths, tall enough for the whole page, not blank.
func TestPreferencePageScreenshots(t *testing.T) {
	files := map[string]int64{}
	for _, vp := range viewports {
		files["preferences-"+vp.name+".png"] = vp.width
	}
	files["preferences-phone-error.png"] = 375
	for name, width := range files {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "img", name))
		if err != nil {
			t.Fatalf("%v (regenerate: HUSH_UPDATE_SCREENSHOTS=1 go test -run InChromium ./internal/core/prefsapi)", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := img.Bounds()
		if int64(r.Dx()) != width || r.Dy() < 800 {
			t.Errorf("%s is %dx%d, want %d wide and the whole page", name, r.Dx(), r.Dy(), width)
		}
		if ink := inked(img); ink < 0.01 {
			t.Errorf("%s is nearly blank: %.1f%% of pixels are not background", name, 100*ink)
		}
	}
}

// inked is the share of pixels that differ from the top-left one.
func inked(img image.Image) float64 {
	r := img.Bounds()
	br, bg, bb, _ := img.At(r.Min.X, r.Min.Y).RGBA()
	var n, total int
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr != br || cg != bg || cb != bb {
				n++
			}
			total++
		}
	}
	return float64(n) / float64(total)
}
