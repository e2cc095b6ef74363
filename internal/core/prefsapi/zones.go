package prefsapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"strings"
)

// zoneList is tzdata's zone.tab: every country's zones, the names people
// recognise, rather than every alias Go could load.
//
//go:embed zones.txt
var zoneList string

var zones = func() []string {
	var out []string
	for _, l := range strings.Split(zoneList, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}()

// zoneScript picks the browser's own time zone when the customer has none
// yet; the page works without it (the zone stays unset). A zone the list
// lacks (browsers report some old names, like Asia/Calcutta) is added, and
// the server checks it like any other.
//
//go:embed templates/zone.js
var zoneJS string

var zoneScript = template.JS(zoneJS)

// zoneScriptHash lets exactly that script run under the page's Content
// Security Policy, and nothing else.
var zoneScriptHash = func() string {
	sum := sha256.Sum256([]byte(zoneJS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// zoneGroups returns the zones by region, current selected; a current zone
// outside the list (an alias the customer set through the API) is offered
// too, so that saving the page never changes it.
func zoneGroups(current string) []zoneGroup {
	var out []zoneGroup
	found := current == ""
	for _, z := range zones {
		region, _, ok := strings.Cut(z, "/")
		if !ok {
			region = "Other"
		}
		if len(out) == 0 || out[len(out)-1].Region != region {
			out = append(out, zoneGroup{Region: region})
		}
		g := &out[len(out)-1]
		g.Zones = append(g.Zones, choice{z, strings.ReplaceAll(z, "_", " "), z == current})
		found = found || z == current
	}
	if !found {
		out = append(out, zoneGroup{Region: "Other", Zones: []choice{{current, strings.ReplaceAll(current, "_", " "), true}}})
	}
	return out
}
