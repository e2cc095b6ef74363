package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// The workload: which customers opted out and what each intent is. It is a
// pure function of the seed and the index, so that the auditor knows what
// was asked without being told by the system under test.

func customerID(k int) string { return fmt.Sprintf("cust-%06d", k) }

// optedOutOfEmail and doNothing are the customers with preferences.
func optedOutOfEmail(k int) bool { return k%20 == 7 }
func doNothing(k int) bool       { return k%33 == 5 }

type planned struct {
	it       *hushv1.ContactIntent
	customer int
	invalid  bool
	dup      bool
	deferBy  time.Duration
}

var (
	channels = []struct {
		name string
		pct  int
	}{{"email", 40}, {"sms", 20}, {"push", 30}, {"in_app", 10}}
	categories = []struct {
		name string
		pct  int
	}{{"critical", 2}, {"transactional", 20}, {"service", 28}, {"marketing", 40}, {"survey", 10}}
	topics = []string{"orders", "account", "news", "offers", "feedback"}
)

func pick[T any](rng *rand.Rand, xs []T, pct func(T) int) T {
	n := rng.IntN(100)
	for _, x := range xs {
		if n -= pct(x); n < 0 {
			return x
		}
	}
	return xs[len(xs)-1]
}

// plan returns intent i. One intent in ten goes to the hottest 1% of
// customers, where caps are raced hardest.
func (r *soakRun) plan(i int, now time.Time, payload []byte) planned {
	rng := rand.New(rand.NewPCG(uint64(r.s.Seed), uint64(i)))
	k := rng.IntN(r.s.Customers)
	if hot := max(r.s.Customers/100, 1); rng.IntN(10) == 0 {
		k = rng.IntN(hot)
	}
	ch := pick(rng, channels, func(c struct {
		name string
		pct  int
	}) int {
		return c.pct
	}).name
	cat := pick(rng, categories, func(c struct {
		name string
		pct  int
	}) int {
		return c.pct
	}).name
	p := planned{customer: k, it: &hushv1.ContactIntent{
		Id: "s" + strconv.Itoa(i), CustomerId: customerID(k), Channel: ch, Category: cat,
		Topic:     topics[rng.IntN(len(topics))],
		Sender:    &hushv1.Sender{Service: []string{"campaigns", "billing", "support", "security"}[rng.IntN(4)]},
		CreatedAt: timestamppb.New(now),
		Payload:   payload,
	}}
	switch x := rng.Float64(); {
	case x < 0.005:
		p.invalid = true
		p.it.CustomerId = "" // dead-lettered: validate
	case x < 0.015:
		p.it.NotAfter = timestamppb.New(now.Add(-time.Minute)) // suppressed: expired
	case x < 0.015+r.s.Deferred:
		p.deferBy = 2*time.Second + time.Duration(rng.Int64N(int64(18*time.Second)))
	}
	p.dup = rng.Float64() < r.s.Duplicates
	return p
}

// setPreferences records the opted-out, do-nothing and digest customers.
func (r *soakRun) setPreferences(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for k := range r.s.Customers {
		if !optedOutOfEmail(k) && !doNothing(k) && !digestCustomers(k) {
			continue
		}
		p := &hushv1.Preferences{CustomerId: customerID(k)}
		if digestCustomers(k) {
			digestPrefs(p)
		}
		if optedOutOfEmail(k) {
			p.OptedOutChannels = []string{"email"}
		}
		if doNothing(k) {
			p.Mode = hushv1.Mode_MODE_DO_NOTHING
		}
		g.Go(func() error {
			_, _, err := r.store.SetPreferences(ctx, customerID(k), p, nil)
			return err
		})
	}
	return g.Wait()
}

// deferIntent records a deferral for it, as the quiet-hours rule does: when
// the gatekeeper meets the intent it stores the deferral and acks it, and
// decides it again at release. (A stand-in for quiet hours in this soak,
// whose policy must not depend on the hour it runs at.)
func (r *soakRun) deferIntent(ctx context.Context, it *hushv1.ContactIntent, releaseAt time.Time) error {
	now := time.Now()
	reason := policy.Reason{Code: hushv1.ReasonCode_REASON_CODE_QUIET_HOURS, Rule: "quiet_hours", Message: "soak: deferred"}
	v := policy.Verdict{Outcome: hushv1.Outcome_OUTCOME_DEFERRED, Reason: reason, ReleaseAt: releaseAt}
	d := r.pol.Decision(it, &v, now, "")
	_, version, err := r.store.Preferences(ctx, it.GetCustomerId())
	if err != nil {
		return err
	}
	res, err := r.store.Decide(ctx, store.DecideRequest{Intent: it, PrefsVersion: version, Now: now, Verdict: &v, Decision: d,
		DecisionRetention: r.pol.DecisionRetention, LedgerRetention: r.pol.LedgerRetention})
	if err == nil && res.Stale {
		err = errors.New("preferences changed")
	}
	return err
}

// producer publishes every planned intent until JetStream has acked it,
// retrying through NATS restarts; Nats-Msg-Id makes the retries harmless.
// Duplicates are published a second time under another Nats-Msg-Id, so
// that the stream keeps both and the gatekeeper must replay.
type producer struct {
	r          *soakRun
	published  atomic.Int64
	retried    atomic.Int64
	lastDefer  atomic.Int64 // unix ms of the latest release
	deferrals  atomic.Int64
	duplicates atomic.Int64
}

func (p *producer) run(ctx context.Context) error {
	r := p.r
	const lanes, batch = 4, 512
	payload := make([]byte, r.s.Payload)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	g, ctx := errgroup.WithContext(ctx)
	for lane := range lanes {
		g.Go(func() error {
			var msgs []*nats.Msg
			for i := lane; i < r.s.Intents; i += lanes {
				now := time.Now()
				pl := r.plan(i, now, payload)
				if pl.deferBy > 0 {
					at := now.Add(pl.deferBy)
					if err := retryCtx(ctx, func() error { return r.deferIntent(ctx, pl.it, at) }); err != nil {
						return err
					}
					p.deferrals.Add(1)
					for old := p.lastDefer.Load(); at.UnixMilli() > old && !p.lastDefer.CompareAndSwap(old, at.UnixMilli()); old = p.lastDefer.Load() {
					}
				}
				data, err := proto.Marshal(pl.it)
				if err != nil {
					return err
				}
				m := nats.NewMsg(r.subjects.Intent(pl.it.GetSender().GetService(), pl.it.GetChannel()))
				m.Data = data
				m.Header.Set(bus.HeaderMsgID, pl.it.GetId())
				msgs = append(msgs, m)
				if pl.dup {
					d := nats.NewMsg(m.Subject)
					d.Data = data
					d.Header.Set(bus.HeaderMsgID, pl.it.GetId()+"#dup")
					msgs = append(msgs, d)
					p.duplicates.Add(1)
				}
				if len(msgs) >= batch {
					if err := p.publish(ctx, msgs); err != nil {
						return err
					}
					msgs = msgs[:0]
				}
			}
			return p.publish(ctx, msgs)
		})
	}
	return g.Wait()
}

func (p *producer) publish(ctx context.Context, msgs []*nats.Msg) error {
	for len(msgs) > 0 {
		var (
			failed []*nats.Msg
			futs   []jetstream.PubAckFuture
			sent   []*nats.Msg
		)
		for _, m := range msgs {
			f, err := p.r.js.PublishMsgAsync(m)
			if err != nil {
				failed = append(failed, m)
				continue
			}
			futs, sent = append(futs, f), append(sent, m)
		}
		for i, f := range futs {
			select {
			case <-f.Ok():
				p.published.Add(1)
			case <-f.Err():
				failed = append(failed, sent[i])
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(failed) > 0 {
			p.retried.Add(int64(len(failed)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		// Fresh messages: a published one keeps its reply inbox.
		msgs = msgs[:0]
		for _, m := range failed {
			c := nats.NewMsg(m.Subject)
			c.Data = m.Data
			c.Header.Set(bus.HeaderMsgID, m.Header.Get(bus.HeaderMsgID))
			msgs = append(msgs, c)
		}
	}
	return nil
}

func retryCtx(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
