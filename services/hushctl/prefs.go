package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/consent"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/prefsapi"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

func prefsGet(a *app, args []string) error {
	pos, err := a.parse(args, 1, 1)
	if err != nil {
		return err
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	p, v, err := st.Preferences(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if p == nil {
		// Never the defaults dressed as facts ("consent given"): Hush
		// knows nothing of this customer.
		return a.noRecord(fmt.Sprintf("customer %s has no preferences in Redis (decisions apply the policy's defaults)", pos[0]))
	}
	return a.showPrefs(p, v)
}

func (a *app) showPrefs(p *hushv1.Preferences, v uint64) error {
	if a.c.JSON {
		return a.printJSON(map[string]any{"version": v, "preferences": protoJSON(p)})
	}
	a.fields(prefsRows(p, v))
	return nil
}

func prefsRows(p *hushv1.Preferences, v uint64) [][2]string {
	list := func(s []string) string { return orDash(strings.Join(s, ", ")) }
	mode := prefsapi.ModeName(p.GetMode())
	if u := p.GetModeUntil(); u != nil {
		mode += " until " + ts(u.AsTime())
	}
	hold := "-"
	if h := p.GetCareHold(); h != nil {
		hold = fmt.Sprintf("%s (set by %s", h.GetReason(), orDash(h.GetSetBy()))
		if h.GetUntil() != nil {
			hold += ", until " + ts(h.GetUntil().AsTime())
		}
		hold += ")"
	}
	consentState := "given"
	if p.GetConsentRevoked() {
		consentState = "revoked"
	}
	quiet := "-"
	if q := p.GetQuietHours(); q != nil {
		quiet = q.GetStart() + "-" + q.GetEnd()
	}
	freq := "-"
	if f := p.GetMaxFrequency(); f != nil {
		freq = fmt.Sprintf("%d per %s", f.GetCount(), policy.FormatWindow(f.GetWindow().AsDuration()))
	}
	var hashes []string
	for _, h := range p.GetSuppressedDestinations() {
		hashes = append(hashes, h[:min(12, len(h))]+"…")
	}
	updated := "-"
	if p.GetUpdatedAt() != nil {
		updated = ts(p.GetUpdatedAt().AsTime())
	}
	rows := [][2]string{
		{"customer", p.GetCustomerId()},
		{"version", strconv.FormatUint(v, 10)},
		{"mode", mode},
		{"care hold", hold},
		{"consent", consentState},
		{"opted-out channels", list(p.GetOptedOutChannels())},
		{"opted-out categories", list(p.GetOptedOutCategories())},
		{"opted-out topics", list(p.GetOptedOutTopics())},
		{"time zone", orDash(p.GetTimeZone())},
		{"quiet hours", quiet},
		{"max frequency", freq},
		{"digest", digestWords(p)},
		{"suppressed destinations", list(hashes)},
		{"region", orDash(p.GetRegion())},
	}
	rows = append(rows, consentRows(p)...)
	return append(rows, [2]string{"updated", updated})
}

// setFlags are the changes prefs set can make; empty flags change nothing.
type setFlags struct {
	Mode          string `conf:"mode" help:"normal, essential_only or do_nothing"`
	Until         string `conf:"until" help:"with --mode: the mode lasts until then (RFC 3339 or a date)"`
	OptOutChannel string `conf:"opt-out-channel" help:"channels to stop, comma-separated"`
	OptInChannel  string `conf:"opt-in-channel" help:"channels to allow again, comma-separated"`
	OptOutCat     string `conf:"opt-out-category" help:"categories to stop, comma-separated"`
	OptInCat      string `conf:"opt-in-category" help:"categories to allow again, comma-separated"`
	OptOutTopic   string `conf:"opt-out-topic" help:"topics to stop, comma-separated"`
	OptInTopic    string `conf:"opt-in-topic" help:"topics to allow again, comma-separated"`
	TimeZone      string `conf:"time-zone" help:"IANA time zone (Europe/Paris); \"none\" clears it"`
	QuietHours    string `conf:"quiet-hours" help:"HH:MM-HH:MM in the customer's time zone; \"none\" clears them"`
	MaxFrequency  string `conf:"max-frequency" help:"COUNT/WINDOW, e.g. 3/7d; \"none\" clears it"`
	Region        string `conf:"region" help:"ISO 3166-1 alpha-2 (FR, US-FL); \"none\" clears it"`
	Digest        string `conf:"digest" help:"one summary a day: CATEGORIES@HH:MM, e.g. marketing,survey@19:30; \"none\" clears it"`
	Consent       string `conf:"consent" help:"revoked or given"`
	Actor         string `conf:"actor" help:"who makes the change, for the consent history (default: $USER)"`
}

func csv(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func addAll(list []string, add []string) []string {
	for _, x := range add {
		if !slices.Contains(list, x) {
			list = append(list, x)
		}
	}
	return list
}

func removeAll(list []string, rm []string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return slices.Contains(rm, x) })
}

func (f *setFlags) apply(p *hushv1.Preferences, now time.Time) error {
	if f.Mode != "" {
		m, ok := prefsapi.ParseMode(f.Mode)
		if !ok {
			return fmt.Errorf("--mode: want normal, essential_only or do_nothing, got %q", f.Mode)
		}
		p.Mode, p.ModeUntil = m, nil
	}
	if f.Until != "" {
		if f.Mode == "" {
			return fmt.Errorf("--until goes with --mode")
		}
		t, err := parseFuture(f.Until, now)
		if err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		p.ModeUntil = timestamppb.New(t)
	}
	p.OptedOutChannels = removeAll(addAll(p.OptedOutChannels, csv(f.OptOutChannel)), csv(f.OptInChannel))
	p.OptedOutCategories = removeAll(addAll(p.OptedOutCategories, csv(f.OptOutCat)), csv(f.OptInCat))
	p.OptedOutTopics = removeAll(addAll(p.OptedOutTopics, csv(f.OptOutTopic)), csv(f.OptInTopic))
	switch f.TimeZone {
	case "":
	case "none":
		p.TimeZone = ""
	default:
		p.TimeZone = f.TimeZone
	}
	switch f.QuietHours {
	case "":
	case "none":
		p.QuietHours = nil
	default:
		start, end, ok := strings.Cut(f.QuietHours, "-")
		if !ok {
			return fmt.Errorf("--quiet-hours: want HH:MM-HH:MM, got %q", f.QuietHours)
		}
		p.QuietHours = &hushv1.QuietHours{Start: start, End: end}
	}
	switch f.MaxFrequency {
	case "":
	case "none":
		p.MaxFrequency = nil
	default:
		count, window, ok := strings.Cut(f.MaxFrequency, "/")
		n, err := strconv.ParseUint(count, 10, 32)
		d, derr := parseDuration(window)
		if !ok || err != nil || derr != nil {
			return fmt.Errorf("--max-frequency: want COUNT/WINDOW like 3/7d, got %q", f.MaxFrequency)
		}
		if d > policy.MaxCustomerWindow {
			return fmt.Errorf("--max-frequency: the window is at most %s (the contact ledger keeps no more), got %q",
				policy.FormatWindow(policy.MaxCustomerWindow), window)
		}
		p.MaxFrequency = &hushv1.MaxFrequency{Count: uint32(n), Window: durationpb.New(d)}
	}
	switch f.Region {
	case "":
	case "none":
		p.Region = ""
	default:
		p.Region = f.Region
	}
	if err := setDigest(p, f.Digest); err != nil { // digest.go
		return err
	}
	switch f.Consent {
	case "":
	case "revoked":
		p.ConsentRevoked = true
	case "given":
		p.ConsentRevoked = false
	default:
		return fmt.Errorf("--consent: want revoked or given, got %q", f.Consent)
	}
	return nil
}

func parseFuture(s string, now time.Time) (time.Time, error) {
	t, err := parseFutureTime(s, now)
	if err == nil && !t.After(now) {
		return time.Time{}, fmt.Errorf("%q is not in the future (now %s)", s, ts(now))
	}
	return t, err
}

func parseFutureTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339, a date, or a duration from now (72h, 7d)", s)
}

func (a *app) actor(flag string) string {
	if flag != "" {
		return flag
	}
	if u := a.getenv("USER"); u != "" {
		return "hushctl:" + u
	}
	return "hushctl"
}

// change applies mutate through the consent service (Redis, then the
// consent history) and shows the result.
func (a *app) change(customer, actor string, mutate func(*hushv1.Preferences) error) error {
	pol, err := a.policy()
	if err != nil {
		return err
	}
	svc, err := a.consent()
	if err != nil {
		return err
	}
	res, err := svc.Apply(a.ctx, consent.Change{Customer: customer, Actor: actor, Via: consent.ViaHushctl,
		Mutate: func(p *hushv1.Preferences) error {
			if err := mutate(p); err != nil {
				return err
			}
			return prefsapi.ValidatePreferences(p, pol)
		}})
	if err != nil {
		return err
	}
	if res.HistoryPending {
		fmt.Fprintln(a.stderr, "warning: the change is in force, but its consent-history entry waits in Redis until NATS takes it")
	}
	if res.Unchanged && !a.c.JSON {
		fmt.Fprintln(a.stderr, "nothing to change")
	}
	return a.showPrefs(res.Prefs, res.Version)
}

func prefsSet(a *app, args []string) error {
	var f setFlags
	pos, err := a.parse(args, 1, 1, &f)
	if err != nil {
		return err
	}
	now := a.now()
	return a.change(pos[0], a.actor(f.Actor), func(p *hushv1.Preferences) error { return f.apply(p, now) })
}

// modeFlags are the flags of the mode command.
type modeFlags struct {
	Until string `conf:"until" help:"the mode lasts until then (RFC 3339, a date, or a duration from now like 7d)"`
	Actor string `conf:"actor" help:"who makes the change (default: $USER)"`
}

func modeCmd(a *app, args []string) error {
	var f modeFlags
	pos, err := a.parse(args, 2, 2, &f)
	if err != nil {
		return err
	}
	sf := setFlags{Mode: pos[1], Until: f.Until}
	now := a.now()
	return a.change(pos[0], a.actor(f.Actor), func(p *hushv1.Preferences) error { return sf.apply(p, now) })
}

// holdFlags are the flags of care-hold set.
type holdFlags struct {
	Reason string `conf:"reason" help:"why, without personal details (bereavement, hardship)"`
	Until  string `conf:"until" help:"the hold lifts itself then (RFC 3339, a date, or a duration like 30d)"`
	Actor  string `conf:"actor" help:"the member of staff setting it (default: $USER)"`
}

func careHoldSet(a *app, args []string) error {
	var f holdFlags
	pos, err := a.parse(args, 1, 1, &f)
	if err != nil {
		return err
	}
	if strings.TrimSpace(f.Reason) == "" {
		return fmt.Errorf("--reason is required")
	}
	hold := &hushv1.CareHold{Reason: f.Reason, SetBy: a.actor(f.Actor)}
	if f.Until != "" {
		t, err := parseFuture(f.Until, a.now())
		if err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		hold.Until = timestamppb.New(t)
	}
	return a.change(pos[0], hold.SetBy, func(p *hushv1.Preferences) error { p.CareHold = hold; return nil })
}

func careHoldClear(a *app, args []string) error {
	var f modeFlags
	pos, err := a.parse(args, 1, 1, &f)
	if err != nil {
		return err
	}
	return a.change(pos[0], a.actor(f.Actor), func(p *hushv1.Preferences) error { p.CareHold = nil; return nil })
}

// historyFlags are the flags of prefs history.
type historyFlags struct {
	Since string `conf:"since" help:"only changes since then (RFC 3339, a date, or a duration back like 24h)"`
}

func prefsHistory(a *app, args []string) error {
	var f historyFlags
	pos, err := a.parse(args, 0, 1, &f)
	if err != nil {
		return err
	}
	since, err := parseTime(f.Since, a.now())
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	svc := consent.New(nil, js, consent.Options{Subjects: a.subjects()})
	filter := consent.HistoryFilter{Since: since, Progress: a.progress("consent history")}
	if len(pos) == 1 {
		filter.Customer = pos[0]
	}
	var changes []*hushv1.PreferenceChange
	if err := svc.History(a.ctx, filter, func(c *hushv1.PreferenceChange) error {
		changes = append(changes, c)
		return nil
	}); err != nil {
		return err
	}
	if a.c.JSON {
		out := make([]any, 0, len(changes))
		for _, c := range changes {
			out = append(out, protoJSON(c))
		}
		return a.printJSON(out)
	}
	rows := make([][]string, 0, len(changes))
	for _, c := range changes {
		rows = append(rows, []string{c.GetCustomerId(), strconv.FormatUint(c.GetVersion(), 10), ts(c.GetChangedAt().AsTime()),
			orDash(c.GetActor()), orDash(c.GetVia()), diff(c.GetOld(), c.GetNew())})
	}
	a.table([]string{"CUSTOMER", "VERSION", "CHANGED", "ACTOR", "VIA", "CHANGE"}, rows)
	return nil
}

// diff says which fields a change changed: "mode: normal -> do_nothing;
// opted_out_channels: - -> sms".
func diff(old, cur *hushv1.Preferences) string {
	if old == nil {
		old = &hushv1.Preferences{}
	}
	var parts []string
	fields := cur.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch fd.Name() {
		case "updated_at", "customer_id":
			continue
		}
		ov, nv := old.ProtoReflect().Get(fd), cur.ProtoReflect().Get(fd)
		if valueString(fd, ov, old.ProtoReflect().Has(fd)) == valueString(fd, nv, cur.ProtoReflect().Has(fd)) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", fd.Name(), valueString(fd, ov, old.ProtoReflect().Has(fd)), valueString(fd, nv, cur.ProtoReflect().Has(fd))))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, "; ")
}

func valueString(fd protoreflect.FieldDescriptor, v protoreflect.Value, has bool) string {
	switch {
	case !has && fd.Kind() == protoreflect.EnumKind:
		return "normal"
	case !has && fd.Kind() == protoreflect.BoolKind:
		return "false"
	case !has:
		return "-"
	}
	switch {
	case fd.IsList():
		l := v.List()
		items := make([]string, 0, l.Len())
		for i := range l.Len() {
			s := l.Get(i).String()
			switch m := l.Get(i); fd.Name() {
			case "suppressed_destinations":
				s = s[:min(12, len(s))] + "…"
			case "consents":
				s = "{" + grantString(m.Message().Interface().(*hushv1.ConsentGrant)) + "}"
			case "revocations":
				s = "{" + revocationString(m.Message().Interface().(*hushv1.Revocation)) + "}"
			}
			items = append(items, s)
		}
		return strings.Join(items, ",")
	case fd.Kind() == protoreflect.EnumKind:
		return prefsapi.ModeName(hushv1.Mode(v.Enum()))
	case fd.Kind() == protoreflect.MessageKind:
		switch m := v.Message().Interface().(type) {
		case *timestamppb.Timestamp:
			return ts(m.AsTime())
		case *hushv1.QuietHours:
			return m.GetStart() + "-" + m.GetEnd()
		case *hushv1.MaxFrequency:
			return fmt.Sprintf("%d/%s", m.GetCount(), policy.FormatWindow(m.GetWindow().AsDuration()))
		case *hushv1.CareHold:
			return "{" + m.GetReason() + " by " + m.GetSetBy() + "}"
		default:
			return strings.TrimSpace(fmt.Sprint(proto.Message(m)))
		}
	}
	return v.String()
}

func prefsRebuild(a *app, args []string) error {
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	svc, err := a.consent()
	if err != nil {
		return err
	}
	st, err := svc.Rebuild(a.ctx, a.progress("consent history"))
	if err != nil {
		return err
	}
	if a.c.JSON {
		return a.printJSON(map[string]int{"changes": st.Changes, "customers": st.Customers, "restored": st.Restored})
	}
	fmt.Fprintf(a.stdout, "read %d changes of %d customers; restored %d (the others were already current)\n", st.Changes, st.Customers, st.Restored)
	return nil
}
