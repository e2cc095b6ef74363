package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/hush-oss/hush/internal/core/bus"
)

// soak runs the workload under faults until every intent is settled, stops
// the gatekeepers with SIGTERM and audits the streams.
func (r *soakRun) soak(ctx context.Context) (*report, error) {
	if err := r.setPreferences(ctx); err != nil {
		return nil, fmt.Errorf("set preferences: %w", err)
	}
	rep := &report{Intents: r.s.Intents, Customers: r.s.Customers, Settings: r.s}
	prod := &producer{r: r}
	produced := make(chan error, 1)
	begin := time.Now()
	if r.s.Backlog {
		r.logf("producing a backlog of %d intents before any gatekeeper starts", r.s.Intents)
		if err := prod.run(ctx); err != nil {
			return nil, fmt.Errorf("produce: %w", err)
		}
		rep.ProduceRate = float64(prod.published.Load()) / time.Since(begin).Seconds()
		r.logf("backlog of %d messages stored (%.0f/s); starting %d gatekeepers", prod.published.Load(), rep.ProduceRate, r.s.Gatekeepers)
		produced <- nil
		begin = time.Now()
		r.startGatekeepers(ctx)
	} else {
		r.startGatekeepers(ctx)
		go func() { produced <- prod.run(ctx) }()
	}

	settled := func() float64 {
		n := 0
		for _, k := range []string{bus.StreamDispatch, bus.StreamSuppressed, bus.StreamDeadLetter} {
			n += int(r.streamMsgs(ctx, k))
		}
		return float64(n) / float64(r.s.Intents)
	}
	faultsDone := make(chan struct{})
	go r.faults(ctx, settled, faultsDone)

	// Wait until production is over, every consumer is idle, the last
	// deferral is released, and the outcome streams stop growing.
	var prodDone bool
	var last float64 = -1
	var quiet int
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
			close(faultsDone)
			return nil, fmt.Errorf("soak not settled: %w", ctx.Err())
		case err := <-produced:
			if err != nil {
				close(faultsDone)
				return nil, fmt.Errorf("produce: %w", err)
			}
			prodDone = true
			r.logf("producer done: %d messages published (%d retried)", prod.published.Load(), prod.retried.Load())
		case <-tick.C:
		}
		p := settled()
		if time.Since(lastReport) >= 10*time.Second {
			r.logf("settled %.1f%%, %d kills, %d SIGTERMs", 100*p, r.kills.Load(), r.terms.Load())
			lastReport = time.Now()
		}
		idle := prodDone && r.idle(ctx) && time.Now().After(time.UnixMilli(prod.lastDefer.Load()).Add(3*time.Second))
		if idle && p == last {
			quiet++
		} else {
			quiet = 0
		}
		last = p
		if quiet >= 3 {
			break
		}
	}
	close(faultsDone)
	rep.Duration = time.Since(begin)
	rep.Throughput = float64(r.s.Intents) / rep.Duration.Seconds()
	r.logf("settled; stopping the gatekeepers with SIGTERM")

	for _, sl := range r.slots {
		code, err := sl.stop(syscall.SIGTERM, true, r.s.Grace+5*time.Second)
		r.terms.Add(1)
		if err != nil || code != 0 {
			r.badTerms.Add(1)
			r.termNotes = append(r.termNotes, fmt.Sprintf("gatekeeper %d: final SIGTERM exit %d: %v", sl.n, code, err))
		}
		rep.GatekeeperStarts += sl.starts
		rep.PeakRSS = append(rep.PeakRSS, sl.peakRSS)
		if r.s.MaxRSS > 0 && sl.peakRSS > r.s.MaxRSS<<20 {
			rep.RSSViolations++
		}
	}
	rep.Published, rep.Duplicates, rep.Deferrals = prod.published.Load(), prod.duplicates.Load(), prod.deferrals.Load()
	rep.Kills, rep.Terms, rep.BadTerms = r.kills.Load(), r.terms.Load(), r.badTerms.Load()
	rep.RedisRestarts, rep.NATSRestarts = r.redisRestarts, r.natsRestarts
	for _, n := range r.termNotes {
		rep.example("%s", n)
	}
	r.logf("auditing the outcome streams")
	if err := r.audit(ctx, rep); err != nil {
		return rep, fmt.Errorf("audit: %w", err)
	}
	return rep, nil
}

func (r *soakRun) streamMsgs(ctx context.Context, kind string) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, r.subjects.Stream(kind))
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// idle reports whether the gatekeeper's consumers have nothing pending.
func (r *soakRun) idle(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, c := range []struct{ stream, durable string }{
		{bus.StreamIntents, "gatekeeper"}, {bus.StreamDeferred, "gatekeeper-released"}, {bus.StreamAdvisories, "gatekeeper-advisories"},
	} {
		cons, err := r.js.Consumer(ctx, r.subjects.Stream(c.stream), c.durable)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}
