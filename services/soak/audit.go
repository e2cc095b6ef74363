package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// report is what the auditor found, and what the soak did.
type report struct {
	Intents, Customers                  int
	Published, Duplicates, Deferrals    int64
	Dispatched, Suppressed, DeadLetters int
	DeferredLogged, StillDeferred       int
	// InvalidCopies are dead letters of second copies of invalid intents.
	InvalidCopies int
	// DeferredUnlogged are intents the workload deferred whose deferral
	// has no entry in the suppression log. Zero unless Redis crashed and
	// lost the deferral's record (then the intent is simply decided).
	DeferredUnlogged int
	Reasons          map[string]int
	// The invariants: all must be zero.
	Lost, DispatchedTwice, MultipleOutcomes, Phantom int
	CapViolations, ConsentViolations                 int
	BadTerms                                         int64
	RSSViolations                                    int
	// Digests: Digest messages dispatched, folded intents, those still
	// pending in a digest or in a digest suppressed at its release, and
	// DigestViolations (an intent in no digest, in two, or in another than
	// its outcome names), which must be zero (see digest.go).
	Digests, Folded, StillInDigests, InSuppressedDigests, DigestViolations int
	// The faults.
	Kills, Terms                int64
	RedisRestarts, NATSRestarts int
	GatekeeperStarts            int
	PeakRSS                     []int64
	Duration                    time.Duration
	Throughput                  float64
	// ProduceRate is the producer's acked publishes per second, measured
	// alone (backlog mode only).
	ProduceRate float64
	Settings    settings
	Examples    []string
}

func (rep *report) print(w io.Writer) {
	s := rep.Settings
	fmt.Fprintf(w, "\n== Hush soak: %d intents over %d customers, %d gatekeepers, nats sync %s, redis appendfsync %s\n",
		rep.Intents, rep.Customers, s.Gatekeepers, s.NATSSync, s.RedisFsync)
	fmt.Fprintf(w, "published        %d messages (%d intents published twice, %d deferred)\n", rep.Published, rep.Duplicates, rep.Deferrals)
	fmt.Fprintf(w, "faults           %d SIGKILLs of a gatekeeper, %d SIGTERMs (%d not exiting 0 in time), %d gatekeeper starts, %d Redis restarts%s, %d NATS restarts (SIGKILL)\n",
		rep.Kills, rep.Terms, rep.BadTerms, rep.GatekeeperStarts, rep.RedisRestarts, map[bool]string{true: " (SIGKILL)", false: " (clean)"}[s.RedisCrash], rep.NATSRestarts)
	fmt.Fprintf(w, "outcomes         %d dispatched, %d suppressed, %d dead-lettered (%d of them second copies of invalid intents); %d deferral log entries, %d still deferred\n",
		rep.Dispatched, rep.Suppressed, rep.DeadLetters, rep.InvalidCopies, rep.DeferredLogged, rep.StillDeferred)
	var reasons []string
	for k, v := range rep.Reasons {
		reasons = append(reasons, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(reasons)
	fmt.Fprintf(w, "reasons          %s\n", strings.Join(reasons, " "))
	rss := make([]string, len(rep.PeakRSS))
	for i, b := range rep.PeakRSS {
		rss[i] = fmt.Sprintf("%.0fMiB", float64(b)/(1<<20))
	}
	fmt.Fprintf(w, "peak RSS         %s\n", strings.Join(rss, " "))
	fmt.Fprintf(w, "duration         %s, %.0f intents/s end to end\n", rep.Duration.Round(100*time.Millisecond), rep.Throughput)
	if rep.ProduceRate > 0 {
		fmt.Fprintf(w, "producer         %.0f acked publishes/s into the intents stream, before the gatekeepers started\n", rep.ProduceRate)
	}
	fmt.Fprintf(w, "lost             %d\n", rep.Lost)
	fmt.Fprintf(w, "dispatched twice %d\n", rep.DispatchedTwice)
	fmt.Fprintf(w, "multiple outcomes %d\n", rep.MultipleOutcomes)
	fmt.Fprintf(w, "unknown ids      %d\n", rep.Phantom)
	fmt.Fprintf(w, "deferrals not logged %d\n", rep.DeferredUnlogged)
	fmt.Fprintf(w, "cap violations   %d\n", rep.CapViolations)
	fmt.Fprintf(w, "consent violations %d\n", rep.ConsentViolations)
	fmt.Fprintf(w, "digests          %d dispatched; %d intents folded, %d still pending in a digest, %d in digests suppressed at release\n",
		rep.Digests, rep.Folded, rep.StillInDigests, rep.InSuppressedDigests)
	fmt.Fprintf(w, "digest violations %d\n", rep.DigestViolations)
	for _, e := range rep.Examples {
		fmt.Fprintf(w, "  example: %s\n", e)
	}
	if err := rep.verdict(); err != nil {
		fmt.Fprintf(w, "VERDICT          FAIL: %v\n", err)
	} else {
		fmt.Fprintf(w, "VERDICT          PASS\n")
	}
}

func (rep *report) verdict() error {
	var bad []string
	for name, n := range map[string]int64{
		"lost": int64(rep.Lost), "dispatched twice": int64(rep.DispatchedTwice), "multiple outcomes": int64(rep.MultipleOutcomes),
		"unknown ids": int64(rep.Phantom), "cap violations": int64(rep.CapViolations), "consent violations": int64(rep.ConsentViolations),
		"SIGTERMs not exiting 0": rep.BadTerms, "gatekeepers over the RSS limit": int64(rep.RSSViolations),
		"deferrals not logged": int64(rep.DeferredUnlogged) * map[bool]int64{true: 0, false: 1}[rep.Settings.RedisCrash],
		"digest violations":    int64(rep.DigestViolations),
	} {
		if n > 0 {
			bad = append(bad, fmt.Sprintf("%d %s", n, name))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return errors.New(strings.Join(bad, ", "))
	}
	return nil
}

// dispatch is one message of the dispatch stream.
type dispatch struct {
	id, channel, category, topic, sender string
	at                                   time.Time
}

// readAll reads a whole stream with an ordered consumer.
func readAll(ctx context.Context, js jetstream.JetStream, stream string, f func(jetstream.Msg)) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	want := info.State.Msgs
	if want == 0 {
		return nil
	}
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	for got := uint64(0); got < want; {
		batch, err := c.Fetch(int(min(want-got, 2000)), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			f(m)
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%s: read %d of %d messages", stream, got, want)
		}
		got += uint64(n)
	}
	return nil
}

// audit reads the outcome streams and checks the invariants. It trusts
// nothing but the streams and the workload's own plan.
func (r *soakRun) audit(ctx context.Context, rep *report) error {
	terminal := make([][]string, r.s.Intents)
	index := func(id string) int {
		n := -1
		if strings.HasPrefix(id, "s") {
			fmt.Sscanf(id[1:], "%d", &n)
		}
		if n < 0 || n >= r.s.Intents || "s"+fmt.Sprint(n) != id {
			return -1
		}
		return n
	}
	note := func(id, what string) {
		if i := index(id); i >= 0 {
			terminal[i] = append(terminal[i], what)
			return
		}
		rep.Phantom++
		rep.example("outcome for an intent never produced: %s %s", id, what)
	}
	rep.Reasons = map[string]int{}
	deferredUntil := map[int]time.Time{}
	byCustomer := map[string][]dispatch{}
	digests := newDigestAudit()

	err := readAll(ctx, r.js, r.subjects.Stream(bus.StreamDispatch), func(m jetstream.Msg) {
		if digests.dispatch(rep, m, byCustomer) {
			return
		}
		it, err := bus.DecodeIntent(m.Data(), m.Headers())
		if err != nil {
			rep.Phantom++
			rep.example("undecodable dispatch: %v", err)
			return
		}
		md, _ := m.Metadata()
		rep.Dispatched++
		note(it.GetId(), "dispatched")
		byCustomer[it.GetCustomerId()] = append(byCustomer[it.GetCustomerId()], dispatch{
			it.GetId(), it.GetChannel(), it.GetCategory(), it.GetTopic(), it.GetSender().GetService(), md.Timestamp})
	})
	if err != nil {
		return fmt.Errorf("read dispatch: %w", err)
	}
	err = readAll(ctx, r.js, r.subjects.Stream(bus.StreamSuppressed), func(m jetstream.Msg) {
		rec := new(hushv1.SuppressionRecord)
		if err := proto.Unmarshal(m.Data(), rec); err != nil {
			rep.example("undecodable suppression record: %v", err)
			return
		}
		d := rec.GetDecision()
		if digests.logged(d, note) {
			return
		}
		if d.GetOutcome() == hushv1.Outcome_OUTCOME_DEFERRED {
			rep.DeferredLogged++
			if i := index(d.GetIntentId()); i >= 0 && d.GetReleaseAt().AsTime().After(deferredUntil[i]) {
				deferredUntil[i] = d.GetReleaseAt().AsTime()
			}
			return
		}
		rep.Suppressed++
		why := "?"
		if len(d.GetReasons()) > 0 {
			why = policy.ShortCode(d.GetReasons()[0].GetCode())
		}
		rep.Reasons[why]++
		note(d.GetIntentId(), "suppressed:"+why)
	})
	if err != nil {
		return fmt.Errorf("read suppressed: %w", err)
	}
	err = readAll(ctx, r.js, r.subjects.Stream(bus.StreamDeadLetter), func(m jetstream.Msg) {
		dl := new(hushv1.DeadLetter)
		if err := proto.Unmarshal(m.Data(), dl); err != nil {
			rep.example("undecodable dead letter: %v", err)
			return
		}
		rep.DeadLetters++
		rep.Reasons["dead:"+dl.GetStage()]++
		it, err := bus.DecodeIntent(dl.GetData(), nil)
		if err != nil {
			rep.Phantom++
			return
		}
		note(it.GetId(), "dead:"+dl.GetStage())
	})
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}

	now := time.Now()
	for i := range terminal {
		if _, logged := deferredUntil[i]; !logged && r.plan(i, now, nil).deferBy > 0 {
			rep.DeferredUnlogged++
			rep.example("deferral of s%d not logged", i)
		}
	}
	for i, outs := range terminal {
		dispatched := 0
		for _, o := range outs {
			if o == "dispatched" {
				dispatched++
			}
		}
		// Invalid input is dead-lettered per message: an invalid intent
		// published twice has two dead letters and no other outcome. Its
		// id cannot be recorded (it names no customer), so that is one
		// terminal outcome per message, as the design says.
		if len(outs) > 1 && r.allInvalid(outs) {
			rep.InvalidCopies += len(outs) - 1
			outs = outs[:1]
		}
		switch {
		case len(outs) == 0:
			if at, ok := deferredUntil[i]; ok && at.After(now) {
				rep.StillDeferred++
				continue
			}
			rep.Lost++
			rep.example("lost: s%d (deferred until %v)", i, deferredUntil[i])
		case dispatched > 1:
			rep.DispatchedTwice++
			rep.example("dispatched twice: s%d %v", i, outs)
		case len(outs) > 1:
			rep.MultipleOutcomes++
			rep.example("several outcomes: s%d %v", i, outs)
		}
	}
	r.checkCaps(rep, byCustomer)
	return digests.check(ctx, r, rep)
}

// checkCaps recomputes every cap of the policy over each customer's
// dispatches, in the dispatch stream's own timestamps: in any window no
// more than max contacts in scope. It also checks consent: nothing but
// critical contacts reach a channel the customer opted out of, and nothing
// but critical and transactional ones reach a do-nothing customer.
func (r *soakRun) checkCaps(rep *report, byCustomer map[string][]dispatch) {
	caps := r.pol.Caps()
	for cust, ds := range byCustomer {
		slices.SortFunc(ds, func(a, b dispatch) int { return a.at.Compare(b.at) })
		var k int
		fmt.Sscanf(cust, "cust-%d", &k)
		for _, d := range ds {
			class, _ := r.pol.ClassOf(d.category)
			if class == policy.ClassCritical {
				continue
			}
			if optedOutOfEmail(k) && d.channel == "email" {
				rep.ConsentViolations++
				rep.example("consent: %s dispatched to %s by email, opted out", d.id, cust)
			}
			if doNothing(k) && class != policy.ClassTransactional {
				rep.ConsentViolations++
				rep.example("consent: %s (%s) dispatched to do-nothing %s", d.id, d.category, cust)
			}
		}
		for _, c := range caps {
			if c.Mode == policy.Shadow {
				continue
			}
			var in []dispatch
			for _, d := range ds {
				class, _ := r.pol.ClassOf(d.category)
				if slices.Contains(c.Classes, class) {
					in = append(in, d)
				}
			}
			groups := map[string][]time.Time{}
			for _, d := range in {
				key := ""
				switch c.Scope {
				case policy.ScopeChannel:
					key = d.channel
				case policy.ScopeCategory:
					key = d.category
				case policy.ScopeTopic:
					key = d.topic
				case policy.ScopeSender:
					key = d.sender
				}
				groups[key] = append(groups[key], d.at)
			}
			for key, ts := range groups {
				// ts is sorted; window (t-w, t] ending at each contact.
				lo := 0
				for hi, t := range ts {
					for ts[lo].Add(c.Window).Compare(t) <= 0 {
						lo++
					}
					if n := hi - lo + 1; n > c.Max {
						rep.CapViolations++
						rep.example("cap %s: %s %q had %d contacts in %s ending %s", c.ID, cust, key, n, c.Window, t.Format(time.RFC3339Nano))
						break
					}
				}
			}
		}
	}
}

func (r *soakRun) allInvalid(outs []string) bool {
	for _, o := range outs {
		if o != "dead:validate" && o != "dead:decode" {
			return false
		}
	}
	return true
}

func (rep *report) example(format string, args ...any) {
	if len(rep.Examples) < 20 {
		rep.Examples = append(rep.Examples, fmt.Sprintf(format, args...))
	}
}
