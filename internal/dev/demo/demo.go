// Package demo is a small, realistic workload for trying Hush by hand: a few
// customers with different wishes, a producer of intents across channels and
// categories (and a little malformed input), a live tally of outcomes read
// from the streams, and a dispatch sink that shows what would be sent.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/store"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// Producer is the name the demo producer publishes under
// (hush.intent.demo.<channel>): the shipped NATS config's producer user may
// publish only that, and the default policy lets it send critical and
// transactional contacts.
const Producer = "demo"

// Customers is how many demo customers intents are spread over.
const Customers = 20

// Customer names demo customer i ("cust-07").
func Customer(i int) string { return fmt.Sprintf("cust-%02d", i) }

// Seed gives a few demo customers wishes of their own, so that the tally
// shows each kind of suppression.
func Seed(ctx context.Context, st *store.Store) error {
	wishes := map[string]*hushv1.Preferences{
		Customer(3):  {OptedOutChannels: []string{"sms"}},
		Customer(7):  {Mode: hushv1.Mode_MODE_DO_NOTHING},
		Customer(11): {Mode: hushv1.Mode_MODE_DO_NOTHING, ModeUntil: timestamppb.New(time.Now().Add(time.Hour))},
		Customer(15): {OptedOutChannels: []string{"email", "push"}},
	}
	for id, p := range wishes {
		p.CustomerId = id
		if _, _, err := st.SetPreferences(ctx, id, p, nil); err != nil {
			return fmt.Errorf("seed %s: %w", id, err)
		}
	}
	return nil
}

var (
	channels   = []string{"email", "email", "email", "sms", "push", "push", "in_app", "whatsapp"}
	categories = []struct {
		name   string
		weight int
		topics []string
	}{
		{"critical", 5, []string{"fraud-alert", "security"}},
		{"transactional", 20, []string{"receipt", "password-reset"}},
		{"service", 25, []string{"delivery-update", "appointment"}},
		{"marketing", 40, []string{"black-friday", "newsletter"}},
		{"survey", 10, []string{"nps"}},
	}
)

// Generator makes demo intents.
type Generator struct {
	rng *rand.Rand
	run string
	n   int
}

// NewGenerator returns a generator whose intent ids are unique to this run.
func NewGenerator(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), run: fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)}
}

// Next returns the next intent.
func (g *Generator) Next() *hushv1.ContactIntent {
	g.n++
	cust := Customer(g.rng.IntN(Customers))
	ch := channels[g.rng.IntN(len(channels))]
	w := g.rng.IntN(100)
	cat := categories[0]
	for _, c := range categories {
		if w < c.weight {
			cat = c
			break
		}
		w -= c.weight
	}
	dest := cust + "@example.com"
	if ch == "sms" || ch == "whatsapp" || ch == "voice" {
		dest = fmt.Sprintf("+4420794600%02d", g.rng.IntN(100))
	}
	return &hushv1.ContactIntent{
		Id:          fmt.Sprintf("demo-%s-%06d", g.run, g.n),
		CustomerId:  cust,
		Channel:     ch,
		Category:    cat.name,
		Topic:       cat.topics[g.rng.IntN(len(cat.topics))],
		Sender:      &hushv1.Sender{Service: Producer},
		CreatedAt:   timestamppb.Now(),
		NotAfter:    timestamppb.New(time.Now().Add(24 * time.Hour)),
		Destination: dest,
		Payload:     []byte(`{"template":"` + cat.topics[0] + `"}`),
	}
}

// ProduceOptions shape the demo traffic.
type ProduceOptions struct {
	// Burst intents are published at once, then Rate per second until the
	// context ends (0: stop after the burst).
	Burst int
	Rate  float64
	// Malformed adds a few undecodable or invalid intents to the burst.
	Malformed bool
}

// Produce publishes demo intents until ctx ends (or after the burst when
// Rate is 0). It returns how many it published.
func Produce(ctx context.Context, js jetstream.JetStream, s bus.Subjects, g *Generator, o ProduceOptions) (int, error) {
	sent := 0
	publish := func(subject string, data []byte, hdr nats.Header, id string) error {
		m := nats.NewMsg(subject)
		m.Data = data
		for k, v := range hdr {
			m.Header[k] = v
		}
		if id != "" {
			m.Header.Set(bus.HeaderMsgID, id)
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := js.PublishMsg(pctx, m); err != nil {
			return fmt.Errorf("publish %s: %w", subject, err)
		}
		sent++
		return nil
	}
	one := func() error {
		it := g.Next()
		data, err := proto.Marshal(it)
		if err != nil {
			return err
		}
		return publish(s.Intent(Producer, it.GetChannel()), data, nil, it.GetId())
	}
	for range o.Burst {
		if err := one(); err != nil {
			return sent, err
		}
	}
	if o.Malformed {
		bad := []struct {
			subject string
			data    string
			hdr     nats.Header
		}{
			{s.Intent(Producer, "email"), "\xff\x00 not protobuf", nil},
			{s.Intent(Producer, "email"), `{"id":"demo-bad-json","customerId":"cust-01","channel":"email","category":"lottery","sender":{"service":"demo"}}`,
				nats.Header{bus.HeaderContentType: {bus.ContentTypeJSON}}},
			{s.Intent(Producer, "fax"), `{"id":"demo-bad-channel","customerId":"cust-01","channel":"fax","category":"marketing","sender":{"service":"demo"}}`,
				nats.Header{bus.HeaderContentType: {bus.ContentTypeJSON}}},
		}
		for _, b := range bad {
			if err := publish(b.subject, []byte(b.data), b.hdr, ""); err != nil {
				return sent, err
			}
		}
	}
	if o.Rate <= 0 {
		return sent, nil
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return sent, nil
		case <-tick.C:
			if err := one(); err != nil {
				if ctx.Err() != nil {
					return sent, nil
				}
				return sent, err
			}
		}
	}
}

// MaskDestination shows enough of an address to recognise it and no more:
// "jane.doe@example.com" becomes "j***@example.com", "+442079460012"
// becomes "+44*******12".
func MaskDestination(d string) string {
	if at := strings.LastIndexByte(d, '@'); at > 0 {
		return d[:1] + "***" + d[at:]
	}
	if len(d) > 5 {
		return d[:3] + strings.Repeat("*", len(d)-5) + d[len(d)-2:]
	}
	return strings.Repeat("*", len(d))
}
