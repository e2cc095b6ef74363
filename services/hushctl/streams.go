package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hush-oss/hush/internal/core/bus"
)

// streamHealth is one stream's state and its consumers' lag.
type streamHealth struct {
	Stream    string           `json:"stream"`
	Subjects  []string         `json:"subjects"`
	Messages  uint64           `json:"messages"`
	Bytes     uint64           `json:"bytes"`
	FirstSeq  uint64           `json:"first_seq"`
	LastSeq   uint64           `json:"last_seq"`
	LastAt    string           `json:"last_at,omitempty"`
	Replicas  int              `json:"replicas"`
	Error     string           `json:"error,omitempty"`
	Consumers []consumerHealth `json:"consumers"`
}

// consumerHealth is one durable consumer's lag.
type consumerHealth struct {
	Name string `json:"name"`
	// Pending are messages not yet delivered; AckPending delivered and
	// not yet acknowledged; Redelivered delivered more than once.
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	Waiting     int    `json:"waiting_pulls"`
	AckFloor    uint64 `json:"ack_floor"`
	LastActive  string `json:"last_active,omitempty"`
}

func streams(a *app, args []string) error {
	if _, err := a.parse(args, 0, 0); err != nil {
		return err
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	subjects := a.subjects()
	var out []streamHealth
	for _, cfg := range subjects.StreamConfigs(bus.DefaultStreamOptions()) {
		h := streamHealth{Stream: cfg.Name, Subjects: cfg.Subjects}
		st, err := js.Stream(a.ctx, cfg.Name)
		if err != nil {
			h.Error = "missing: " + err.Error()
			out = append(out, h)
			continue
		}
		info, err := st.Info(a.ctx)
		if err != nil {
			h.Error = err.Error()
			out = append(out, h)
			continue
		}
		h.Messages, h.Bytes, h.FirstSeq, h.LastSeq, h.Replicas = info.State.Msgs, info.State.Bytes, info.State.FirstSeq, info.State.LastSeq, info.Config.Replicas
		if !info.State.LastTime.IsZero() && info.State.Msgs > 0 {
			h.LastAt = ts(info.State.LastTime)
		}
		names := st.ConsumerNames(a.ctx)
		for name := range names.Name() {
			c, err := st.Consumer(a.ctx, name)
			if err != nil {
				continue
			}
			ci, err := c.Info(a.ctx)
			if err != nil || ci.Config.Durable == "" {
				continue
			}
			ch := consumerHealth{Name: name, Pending: ci.NumPending, AckPending: ci.NumAckPending,
				Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting, AckFloor: ci.AckFloor.Stream}
			if ci.Delivered.Last != nil {
				ch.LastActive = ts(*ci.Delivered.Last)
			}
			h.Consumers = append(h.Consumers, ch)
		}
		out = append(out, h)
	}
	if a.c.JSON {
		return a.printJSON(out)
	}
	rows := [][]string{}
	var crows [][]string
	for _, h := range out {
		if h.Error != "" {
			rows = append(rows, []string{h.Stream, strings.Join(h.Subjects, ","), "-", "-", "-", "-", "ERROR " + h.Error})
			continue
		}
		rows = append(rows, []string{h.Stream, strings.Join(h.Subjects, ","), strconv.FormatUint(h.Messages, 10), bytesString(h.Bytes),
			fmt.Sprintf("%d-%d", h.FirstSeq, h.LastSeq), orDash(h.LastAt), "ok"})
		for _, c := range h.Consumers {
			crows = append(crows, []string{h.Stream, c.Name, strconv.FormatUint(c.Pending, 10), strconv.Itoa(c.AckPending),
				strconv.Itoa(c.Redelivered), orDash(c.LastActive)})
		}
	}
	a.table([]string{"STREAM", "SUBJECTS", "MESSAGES", "SIZE", "SEQUENCES", "LAST MESSAGE", "STATE"}, rows)
	fmt.Fprintln(a.stdout)
	if len(crows) == 0 {
		fmt.Fprintln(a.stdout, "no durable consumers")
		return nil
	}
	a.table([]string{"STREAM", "CONSUMER", "LAG (UNDELIVERED)", "ACK PENDING", "REDELIVERED", "LAST DELIVERY"}, crows)
	return nil
}

func bytesString(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
