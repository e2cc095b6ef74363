package policy

//go:generate go run gen_zones.go

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nyaruka/phonenumbers"

	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// subdivisionZones lists the IANA zones used in the subdivisions (ISO
// 3166-2) whose zones are a strict subset of their country's: a customer
// there is checked against these only. Sources: the comments of tzdata's
// zone1970.tab, which name the states, provinces and federal subjects each
// zone covers, and for the US states split between zones the US Department
// of Transportation's time-zone boundaries (49 CFR part 71), including
// unofficial local practice (Phenix City AL on Eastern time, the Navajo
// Nation in AZ on Mountain daylight time, West Wendover NV and Kenton OK on
// Mountain time), since a customer there keeps the clock of their town. A
// subdivision not listed here takes every zone of its country: stricter,
// never looser. For Russia only the subjects whose zone is not in doubt
// are listed.
var subdivisionZones = map[string]string{
	"US-AL": "America/Chicago America/New_York",
	"US-AK": "America/Anchorage America/Juneau America/Sitka America/Metlakatla America/Yakutat America/Nome America/Adak",
	"US-AZ": "America/Phoenix America/Denver",
	"US-AR": "America/Chicago",
	"US-CA": "America/Los_Angeles",
	"US-CO": "America/Denver",
	"US-CT": "America/New_York",
	"US-DC": "America/New_York",
	"US-DE": "America/New_York",
	"US-FL": "America/New_York America/Chicago",
	"US-GA": "America/New_York",
	"US-HI": "Pacific/Honolulu",
	"US-IA": "America/Chicago",
	"US-ID": "America/Boise America/Los_Angeles",
	"US-IL": "America/Chicago",
	"US-IN": "America/Indiana/Indianapolis America/Indiana/Vincennes America/Indiana/Winamac America/Indiana/Marengo " +
		"America/Indiana/Petersburg America/Indiana/Vevay America/Indiana/Tell_City America/Indiana/Knox America/Chicago",
	"US-KS": "America/Chicago America/Denver",
	"US-KY": "America/New_York America/Kentucky/Louisville America/Kentucky/Monticello America/Chicago",
	"US-LA": "America/Chicago",
	"US-MA": "America/New_York",
	"US-MD": "America/New_York",
	"US-ME": "America/New_York",
	"US-MI": "America/Detroit America/Menominee",
	"US-MN": "America/Chicago",
	"US-MO": "America/Chicago",
	"US-MS": "America/Chicago",
	"US-MT": "America/Denver",
	"US-NC": "America/New_York",
	"US-ND": "America/Chicago America/Denver America/North_Dakota/Center America/North_Dakota/New_Salem America/North_Dakota/Beulah",
	"US-NE": "America/Chicago America/Denver",
	"US-NH": "America/New_York",
	"US-NJ": "America/New_York",
	"US-NM": "America/Denver",
	"US-NV": "America/Los_Angeles America/Denver",
	"US-NY": "America/New_York",
	"US-OH": "America/New_York",
	"US-OK": "America/Chicago America/Denver",
	"US-OR": "America/Los_Angeles America/Boise",
	"US-PA": "America/New_York",
	"US-RI": "America/New_York",
	"US-SC": "America/New_York",
	"US-SD": "America/Chicago America/Denver",
	"US-TN": "America/Chicago America/New_York",
	"US-TX": "America/Chicago America/Denver",
	"US-UT": "America/Denver",
	"US-VA": "America/New_York",
	"US-VT": "America/New_York",
	"US-WA": "America/Los_Angeles",
	"US-WI": "America/Chicago",
	"US-WV": "America/New_York",
	"US-WY": "America/Denver",

	"CA-AB": "America/Edmonton",
	"CA-BC": "America/Vancouver America/Dawson_Creek America/Fort_Nelson America/Edmonton America/Phoenix",
	"CA-MB": "America/Winnipeg",
	"CA-NB": "America/Moncton",
	"CA-NL": "America/St_Johns America/Goose_Bay",
	"CA-NS": "America/Halifax America/Glace_Bay",
	"CA-NT": "America/Edmonton America/Inuvik",
	"CA-NU": "America/Iqaluit America/Rankin_Inlet America/Resolute America/Cambridge_Bay America/Panama",
	"CA-ON": "America/Toronto America/Winnipeg America/Panama",
	"CA-PE": "America/Halifax",
	"CA-QC": "America/Toronto America/Halifax America/Puerto_Rico",
	"CA-SK": "America/Regina America/Swift_Current America/Edmonton",
	"CA-YT": "America/Whitehorse America/Dawson",

	"AU-ACT": "Australia/Sydney",
	"AU-NSW": "Australia/Sydney Australia/Broken_Hill Australia/Lord_Howe",
	"AU-NT":  "Australia/Darwin",
	"AU-QLD": "Australia/Brisbane Australia/Lindeman",
	"AU-SA":  "Australia/Adelaide",
	"AU-TAS": "Australia/Hobart Antarctica/Macquarie",
	"AU-VIC": "Australia/Melbourne",
	"AU-WA":  "Australia/Perth Australia/Eucla",

	"BR-AC": "America/Rio_Branco",
	"BR-AL": "America/Maceio",
	"BR-AM": "America/Manaus America/Eirunepe",
	"BR-AP": "America/Belem",
	"BR-BA": "America/Bahia",
	"BR-CE": "America/Fortaleza",
	"BR-DF": "America/Sao_Paulo",
	"BR-ES": "America/Sao_Paulo",
	"BR-GO": "America/Sao_Paulo",
	"BR-MA": "America/Fortaleza",
	"BR-MG": "America/Sao_Paulo",
	"BR-MS": "America/Campo_Grande",
	"BR-MT": "America/Cuiaba",
	"BR-PA": "America/Belem America/Santarem",
	"BR-PB": "America/Fortaleza",
	"BR-PE": "America/Recife America/Noronha",
	"BR-PI": "America/Fortaleza",
	"BR-PR": "America/Sao_Paulo",
	"BR-RJ": "America/Sao_Paulo",
	"BR-RN": "America/Fortaleza",
	"BR-RO": "America/Porto_Velho",
	"BR-RR": "America/Boa_Vista",
	"BR-RS": "America/Sao_Paulo",
	"BR-SC": "America/Sao_Paulo",
	"BR-SE": "America/Maceio",
	"BR-SP": "America/Sao_Paulo",
	"BR-TO": "America/Araguaina",

	"MX-AGU": "America/Mexico_City",
	"MX-BCN": "America/Tijuana",
	"MX-BCS": "America/Mazatlan",
	"MX-CAM": "America/Merida",
	"MX-CHH": "America/Chihuahua America/Ciudad_Juarez America/Ojinaga",
	"MX-CHP": "America/Mexico_City",
	"MX-CMX": "America/Mexico_City",
	"MX-COA": "America/Monterrey America/Matamoros",
	"MX-COL": "America/Mexico_City",
	"MX-DUR": "America/Monterrey",
	"MX-GRO": "America/Mexico_City",
	"MX-GUA": "America/Mexico_City",
	"MX-HID": "America/Mexico_City",
	"MX-JAL": "America/Mexico_City",
	"MX-MEX": "America/Mexico_City",
	"MX-MIC": "America/Mexico_City",
	"MX-MOR": "America/Mexico_City",
	"MX-NAY": "America/Mazatlan America/Bahia_Banderas",
	"MX-NLE": "America/Monterrey America/Matamoros",
	"MX-OAX": "America/Mexico_City",
	"MX-PUE": "America/Mexico_City",
	"MX-QUE": "America/Mexico_City",
	"MX-ROO": "America/Cancun",
	"MX-SIN": "America/Mazatlan",
	"MX-SLP": "America/Mexico_City",
	"MX-SON": "America/Hermosillo",
	"MX-TAB": "America/Mexico_City",
	"MX-TAM": "America/Monterrey America/Matamoros",
	"MX-TLA": "America/Mexico_City",
	"MX-VER": "America/Mexico_City",
	"MX-YUC": "America/Merida",
	"MX-ZAC": "America/Mexico_City",

	"RU-AL":  "Asia/Barnaul",
	"RU-ALT": "Asia/Barnaul",
	"RU-AMU": "Asia/Yakutsk",
	"RU-AST": "Europe/Astrakhan",
	"RU-BA":  "Asia/Yekaterinburg",
	"RU-BU":  "Asia/Irkutsk",
	"RU-CHE": "Asia/Yekaterinburg",
	"RU-CHU": "Asia/Anadyr",
	"RU-IRK": "Asia/Irkutsk",
	"RU-KAM": "Asia/Kamchatka",
	"RU-KDA": "Europe/Moscow",
	"RU-KEM": "Asia/Novokuznetsk",
	"RU-KGD": "Europe/Kaliningrad",
	"RU-KGN": "Asia/Yekaterinburg",
	"RU-KHA": "Asia/Vladivostok",
	"RU-KHM": "Asia/Yekaterinburg",
	"RU-KIR": "Europe/Kirov",
	"RU-KK":  "Asia/Krasnoyarsk",
	"RU-KYA": "Asia/Krasnoyarsk",
	"RU-LEN": "Europe/Moscow",
	"RU-MAG": "Asia/Magadan",
	"RU-MOS": "Europe/Moscow",
	"RU-MOW": "Europe/Moscow",
	"RU-NIZ": "Europe/Moscow",
	"RU-NVS": "Asia/Novosibirsk",
	"RU-OMS": "Asia/Omsk",
	"RU-ORE": "Asia/Yekaterinburg",
	"RU-PER": "Asia/Yekaterinburg",
	"RU-PRI": "Asia/Vladivostok",
	"RU-ROS": "Europe/Moscow",
	"RU-SA":  "Asia/Yakutsk Asia/Khandyga Asia/Ust-Nera Asia/Srednekolymsk",
	"RU-SAK": "Asia/Sakhalin Asia/Srednekolymsk",
	"RU-SAM": "Europe/Samara",
	"RU-SAR": "Europe/Saratov",
	"RU-SPE": "Europe/Moscow",
	"RU-SVE": "Asia/Yekaterinburg",
	"RU-TA":  "Europe/Moscow",
	"RU-TOM": "Asia/Tomsk",
	"RU-TY":  "Asia/Krasnoyarsk",
	"RU-TYU": "Asia/Yekaterinburg",
	"RU-UD":  "Europe/Samara",
	"RU-ULY": "Europe/Ulyanovsk",
	"RU-VGG": "Europe/Volgograd",
	"RU-YAN": "Asia/Yekaterinburg",
	"RU-YEV": "Asia/Vladivostok",
	"RU-ZAB": "Asia/Chita",
}

// RegionZones returns the IANA time zones of a region ("US-FL", "FR"): a
// subdivision's own when the table knows them, else every zone of its
// country; nil when the country is unknown.
func RegionZones(region string) []string {
	s, ok := subdivisionZones[region]
	if !ok {
		country, _, _ := strings.Cut(region, "-")
		s = countryZones[country]
	}
	return strings.Fields(s)
}

// ZoneRegions returns every region the zone table names, sorted: the
// countries and the subdivisions with zones of their own.
func ZoneRegions() []string {
	out := make([]string, 0, len(countryZones)+len(subdivisionZones))
	for r := range countryZones {
		out = append(out, r)
	}
	for r := range subdivisionZones {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// zoneCache remembers loaded time zones (and names that are not zones) and
// the zones of regions, so that an evaluation never reads the zone
// database.
type zoneCache struct {
	m       sync.Map // name -> *time.Location (nil: unknown)
	n       atomic.Int32
	regions sync.Map // region -> []*time.Location (nil: unknown)
	nr      atomic.Int32
}

// maxCachedZones bounds the cache against garbage zone names; IANA has
// about 600. Region codes are bounded the same way.
const maxCachedZones = 2048

// location returns the zone called name, or nil when there is none.
func (p *Policy) location(name string) *time.Location {
	if name == "" {
		return nil
	}
	if v, ok := p.zones.m.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		loc = nil
	}
	if p.zones.n.Add(1) <= maxCachedZones {
		p.zones.m.Store(name, loc)
	}
	return loc
}

// regionLocations returns the zones of a region, loaded once per policy.
func (p *Policy) regionLocations(region string) []*time.Location {
	if region == "" {
		return nil
	}
	if v, ok := p.zones.regions.Load(region); ok {
		return v.([]*time.Location)
	}
	var locs []*time.Location
	for _, name := range RegionZones(region) {
		if loc := p.location(name); loc != nil {
			locs = append(locs, loc)
		}
	}
	if p.zones.nr.Add(1) <= maxCachedZones {
		p.zones.regions.Store(region, locs)
	}
	return locs
}

// candidate is one zone the customer may be in, with the quiet-hours rule
// that applies there.
type candidate struct {
	loc  *time.Location
	rule *quietRule
}

// maxStackCandidates is how many candidate zones an evaluation holds
// without allocating: every zone of the United States and a phone number's.
const maxStackCandidates = 40

func addCandidate(cs []candidate, loc *time.Location, rule *quietRule) []candidate {
	for _, c := range cs {
		if c.loc == loc && c.rule == rule {
			return cs
		}
	}
	return append(cs, candidate{loc, rule})
}

func (p *Policy) addRegion(cs []candidate, region string, rule *quietRule) []candidate {
	for _, loc := range p.regionLocations(region) {
		cs = addCandidate(cs, loc, rule)
	}
	return cs
}

// addNumber adds the zones of the intent's destination when it is a phone
// number (its country and area code tell them), each under the rule of its
// country and, when the customer's region is known, under that region's
// rule too: the strictest rule wins. A national number is read in the
// customer's country. The number itself goes nowhere else.
func (p *Policy) addNumber(cs []candidate, it *hushv1.ContactIntent, region string, rule *quietRule) []candidate {
	switch it.GetChannel() {
	case "sms", "voice", "whatsapp":
	default:
		return cs
	}
	dest := it.GetDestination()
	var names []string
	switch {
	case dest == "" || len(dest) > 64:
		return cs
	case isE164(dest):
		// The common form, looked up without parsing (or allocating).
		names, _ = phonenumbers.GetTimezonesForPrefix(dest)
	default:
		country, _, _ := strings.Cut(region, "-")
		num, err := phonenumbers.Parse(dest, country)
		if err != nil {
			return cs
		}
		names, _ = phonenumbers.GetTimezonesForNumber(num)
	}
	for _, name := range names {
		loc := p.location(name)
		if name == phonenumbers.UNKNOWN_TIMEZONE || loc == nil {
			continue
		}
		cs = addCandidate(cs, loc, p.quiet.ruleFor(zoneCountry[name]))
		if region != "" {
			cs = addCandidate(cs, loc, rule)
		}
	}
	return cs
}

// isE164 reports whether s is a number in E.164 form: "+" and 8 to 15
// digits.
func isE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// searchHorizon bounds the search for a time allowed in every candidate
// zone; zones whose allowed hours never meet within it suppress.
const searchHorizon = 7 * 24 * time.Hour

// allowedInAll returns the earliest instant at or after now at which no
// candidate zone is in quiet hours (quiet is false when that is now), and
// the action: suppress when a zone quiet now says so. ok is false when no
// such instant comes within searchHorizon.
func allowedInAll(now time.Time, cs []candidate, own window, hasOwn bool) (until time.Time, action Action, quiet, ok bool) {
	action, until = Defer, now
	for i := range cs {
		if end, in := quietUntil(now, cs[i].loc, cs[i].rule, own, hasOwn); in {
			if cs[i].rule.action == Suppress {
				action = Suppress
			}
			if end.After(until) {
				until = end
			}
		}
	}
	// Each pass moves to the end of the quiet hours that hold there, which
	// is never past the first instant allowed everywhere; so the first
	// instant no zone moves is that instant.
	for until.Sub(now) <= searchHorizon {
		moved := false
		for i := range cs {
			if end, in := quietUntil(until, cs[i].loc, cs[i].rule, own, hasOwn); in {
				until, moved = end, true
			}
		}
		if !moved {
			return until, action, until.After(now), true
		}
	}
	return until, action, true, false
}
