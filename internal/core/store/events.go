package store

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

var (
	//go:embed lua/record_event.lua
	recordEventLua    string
	recordEventScript = redis.NewScript(recordEventLua)
)

// EventsKey is where a customer's inbound events (conversations, refusals,
// STOP keywords) are kept for the cooldowns of regulation packs. It shares
// the customer's hash tag, so decide.lua reads it in the same atomic step
// as the preferences and the ledger.
func (s *Store) EventsKey(customer string) string { return s.key(customer, "events") }

// Event is one recorded inbound event.
type Event struct {
	Kind, Channel, Subject, Service, Thread string
	At                                      time.Time
}

// eventMember encodes an event in the layout decide.lua reads (the order of
// policy.EventChannel, policy.EventSubject, policy.EventService).
func eventMember(in *hushv1.InboundContact) string {
	return strings.Join([]string{in.GetKind(), in.GetChannel(), in.GetSubjectRef(), in.GetService(), in.GetThreadId()}, memberSep)
}

// RecordEvent keeps a customer's inbound event at a time for retention
// (the policy's EventRetention); an event older than that is not kept.
// Recording it again is harmless.
func (s *Store) RecordEvent(ctx context.Context, in *hushv1.InboundContact, at, now time.Time, retention time.Duration) error {
	if !at.After(now.Add(-retention)) {
		return nil
	}
	err := recordEventScript.Run(ctx, s.rdb, []string{s.EventsKey(in.GetCustomerId())},
		eventMember(in), at.UnixMilli(), now.UnixMilli(), retention.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("record %s event of %s: %w", in.GetKind(), in.GetCustomerId(), err)
	}
	return nil
}

// Events returns a customer's recorded inbound events since a time, oldest
// first.
func (s *Store) Events(ctx context.Context, customer string, since time.Time) ([]Event, error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.EventsKey(customer), &redis.ZRangeBy{
		Min: strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read events of %s: %w", customer, err)
	}
	out := make([]Event, 0, len(zs))
	for _, z := range zs {
		f := strings.Split(z.Member.(string), memberSep)
		for len(f) < 5 {
			f = append(f, "")
		}
		out = append(out, Event{Kind: f[0], Channel: f[1], Subject: f[2], Service: f[3], Thread: f[4], At: time.UnixMilli(int64(z.Score))})
	}
	return out, nil
}

// packHitFields is how many fields a pack rule's hit carries after the ten
// of a cap's (the tenth, the detail, may be empty): channels (a cooldown:
// the event kind), days, pack, version, section.
const packHitFields = 5

// packFields are a pack rule's fields for decide.lua.
func packFields(first string, days int, pack, version, section string) string {
	return strings.Join([]string{first, strconv.Itoa(days), pack, version, section}, memberSep)
}

// appendPackArgs appends decide.lua's regulation-pack ARGV: each cap's pack
// fields, then the cooldowns (only for an approval: a decision that says no
// counts nothing and checks nothing).
func appendPackArgs(args []any, caps []policy.CapCheck, v *policy.Verdict) []any {
	for _, c := range caps {
		extra := ""
		if c.Pack != "" || c.Channels != "" {
			extra = packFields(c.Channels, c.Days, c.Pack, c.PackVersion, c.Section)
		}
		args = append(args, extra)
	}
	var cools []policy.CooldownCheck
	if v.Approved() {
		cools = v.Cooldowns
	}
	args = append(args, len(cools))
	for _, c := range cools {
		enforce := "1"
		if c.Shadow {
			enforce = "0"
		}
		args = append(args, c.Rule, int32(policy.CooldownCode), c.Kind, c.Field, c.Value, c.Since.UnixMilli(),
			c.Window.Milliseconds(), enforce, packFields(c.Kind, c.Days, c.Pack, c.PackVersion, c.Section))
	}
	return args
}

// packReason rebuilds the reason of a pack rule's hit (f: the hit's fields).
func packReason(c policy.CapCheck, f []string, count int) *hushv1.Reason {
	x := f[10:]
	days, _ := strconv.Atoi(x[1])
	r := &hushv1.Reason{Code: c.Code, Rule: c.Rule, Pack: x[2], PackVersion: x[3], Section: x[4]}
	if c.Code == policy.CooldownCode {
		at, _ := strconv.ParseInt(f[6], 10, 64)
		r.Message = policy.CooldownMessage(x[0], int(c.Scope), c.Value, time.UnixMilli(at), days, c.Window)
		return r
	}
	c.Channels, c.Days = x[0], days
	next, _ := strconv.ParseInt(f[7], 10, 64)
	r.Message = policy.CapMessage(c, count, time.UnixMilli(next))
	return r
}
