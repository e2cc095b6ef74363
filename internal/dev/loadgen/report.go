package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

func (r *Result) phase(name string) *Phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// score computes the ratios and checks the targets the run measured.
func (r *Result) score() {
	hush, ceiling, relay, lat := r.phase("hush"), r.phase("ceiling"), r.phase("relay"), r.phase("latency")
	if hush != nil && ceiling != nil && ceiling.Throughput > 0 {
		r.RatioToCeiling = hush.Throughput / ceiling.Throughput
	}
	if hush != nil && relay != nil && relay.Throughput > 0 {
		r.RatioToRelay = hush.Throughput / relay.Throughput
	}
	if hush != nil {
		r.Targets = append(r.Targets,
			Target{"sustained decisions/s (flat out)", ">= 25000", fmt.Sprintf("%.0f", hush.Throughput), hush.Throughput >= 25_000},
			Target{"Redis script calls per decision (server)", "1", fmt.Sprintf("%.3f", hush.ScriptCalls), hush.ScriptCalls >= 0.99 && hush.ScriptCalls <= 1.02 && hush.OtherCalls == 0},
			Target{"Redis memory per active customer", "<= 1024 B", fmt.Sprintf("%.0f B", hush.BytesPerCustomer), hush.BytesPerCustomer <= 1024},
			Target{"nothing lost or duplicated", "0 / 0", fmt.Sprintf("%d / %d", hush.Missing, hush.Duplicated), hush.Missing == 0 && hush.Duplicated == 0},
		)
		if !hush.Processes { // counted by a hook in this process
			r.Targets = append(r.Targets, Target{"Redis round trips per decision (client)", "<= 1", fmt.Sprintf("%.3f", hush.RoundTrips), hush.RoundTrips > 0 && hush.RoundTrips <= 1.02})
		}
		if hush.RedisCPUPerD > 0 {
			r.Targets = append(r.Targets, Target{"Redis CPU per decision", "<= 12 µs", fmt.Sprintf("%.1f µs", hush.RedisCPUPerD), hush.RedisCPUPerD <= 12})
		}
		if hush.Processes {
			r.Targets = append(r.Targets, Target{fmt.Sprintf("gatekeeper process CPU per decision (%.0f%% JSON)", 100*hush.JSONFraction), "<= 25 µs",
				fmt.Sprintf("%.1f µs", hush.GatekeeperCPUPerD), hush.GatekeeperCPUPerD <= 25})
		}
		if ceiling != nil {
			r.Targets = append(r.Targets, Target{"ratio to the Redis-script ceiling", ">= 0.60", fmt.Sprintf("%.2f", r.RatioToCeiling), r.RatioToCeiling >= 0.6})
		}
		if relay != nil {
			r.Targets = append(r.Targets, Target{"ratio to the relay", ">= 0.70", fmt.Sprintf("%.2f", r.RatioToRelay), r.RatioToRelay >= 0.7})
		}
	}
	if lat != nil && lat.Latency != nil {
		r.Targets = append(r.Targets, Target{fmt.Sprintf("p99 at %.0f/s offered", lat.Offered), "<= 5 ms",
			fmt.Sprintf("%.2f ms", lat.Latency.P99), lat.Latency.P99 <= 5 && lat.Throughput >= 0.95*lat.Offered})
	}
	if f := r.phase("features"); f != nil && hush != nil && hush.Throughput > 0 {
		ratio := f.Throughput / hush.Throughput
		r.Targets = append(r.Targets, Target{"features on (priority, defer, digest, packs) vs the default", ">= 0.90",
			fmt.Sprintf("%.2f", ratio), ratio >= 0.9})
	}
}

// WriteTable prints the run as tables people read.
func (r *Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nHush load run %s: %d CPUs, GOMAXPROCS %d, %d customers (zipf s=%.2f), workers %d, max ack pending %d, redis pool %d, warm-up %s, measured %s\n\n",
		r.Started.Format("2006-01-02 15:04:05Z"), r.CPUs, r.GOMAXPROCS, r.Workload.Customers, r.Workload.ZipfS, r.Workers, r.MaxAck, r.RedisPool, r.Warmup, r.Duration)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\treplicas\toffered/s\tthroughput/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tscripts/dec\trt/dec\tB/customer\tB/decision\tredis cpu\tproc cpu\tgk cpu\tgk µs/dec\tredis µs/dec\tnats µs/dec\tlost/dup\tload avg\t")
	for _, p := range r.Phases {
		offered := "max"
		if p.Offered > 0 {
			offered = fmt.Sprintf("%.0f", p.Offered)
		}
		lat := []string{"-", "-", "-", "-"}
		if p.Latency != nil && p.Latency.Count > 0 {
			lat = []string{f2(p.Latency.P50), f2(p.Latency.P95), f2(p.Latency.P99), f2(p.Latency.Max)}
		}
		sc, rt, bc, bd := "-", "-", "-", "-"
		if p.RoundTrips > 0 || p.Processes {
			sc = fmt.Sprintf("%.3f", p.ScriptCalls)
		}
		if p.RoundTrips > 0 {
			rt = fmt.Sprintf("%.3f", p.RoundTrips)
		}
		if p.Customers > 0 {
			bc, bd = fmt.Sprintf("%.0f", p.BytesPerCustomer), fmt.Sprintf("%.0f", p.BytesPerDecision)
		}
		replicas := "-"
		if p.Replicas > 0 {
			replicas = fmt.Sprint(p.Replicas)
		}
		gk, gkd, rd := "-", "-", "-"
		if p.Processes {
			gk, gkd = f2(p.GatekeeperCPU), fmt.Sprintf("%.1f", p.GatekeeperCPUPerD)
		}
		if p.RedisCPUPerD > 0 {
			rd = fmt.Sprintf("%.1f", p.RedisCPUPerD)
		}
		nd := "-"
		if p.NATSCPUPerD > 0 {
			nd = fmt.Sprintf("%.1f", p.NATSCPUPerD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%d/%d\t%s\t\n",
			p.Name, replicas, offered, p.Throughput, lat[0], lat[1], lat[2], lat[3], sc, rt, bc, bd, p.RedisCPU, p.ProcessCPU, gk, gkd, rd, nd, p.Missing, p.Duplicated, p.LoadAverage)
	}
	tw.Flush()
	if r.RatioToCeiling > 0 || r.RatioToRelay > 0 {
		fmt.Fprintf(w, "\nhush / redis ceiling = %.2f    hush / relay = %.2f\n", r.RatioToCeiling, r.RatioToRelay)
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "target\twant\tgot\tmet\t")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.Name, t.Want, t.Got, met)
		}
		tw.Flush()
	}
	for _, p := range r.Phases {
		if len(p.ByOutcome) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(p.ByOutcome)) {
				parts = append(parts, fmt.Sprintf("%s=%d", k, p.ByOutcome[k]))
			}
			fmt.Fprintf(w, "%s outcomes in window: %s\n", p.Name, strings.Join(parts, " "))
		}
	}
}

func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
