package demo

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
)

// Sink consumes the dispatch stream with a durable consumer, as a channel
// sender would, and logs what it would send (destinations masked), until
// ctx ends.
func Sink(ctx context.Context, js jetstream.JetStream, s bus.Subjects, log *slog.Logger) error {
	c, err := js.CreateOrUpdateConsumer(ctx, s.Stream(bus.StreamDispatch), jetstream.ConsumerConfig{
		Durable:       "demo-sink",
		Description:   "Demo channel sender: logs what it would send",
		FilterSubject: s.All("dispatch"),
		AckPolicy:     jetstream.AckExplicitPolicy,
	})
	if err != nil {
		return fmt.Errorf("sink consumer: %w", err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		it, err := bus.DecodeIntent(m.Data(), m.Headers())
		if err != nil {
			log.Warn("undecodable dispatch", "err", err)
			m.Term()
			return
		}
		log.Info("would send", "channel", it.GetChannel(), "category", it.GetCategory(), "topic", it.GetTopic(),
			"intent_id", it.GetId(), "customer_id", it.GetCustomerId(), "to", MaskDestination(it.GetDestination()))
		m.Ack()
	})
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}
