package gatekeeper

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/consent"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// KindStopKeyword is the kind of an inbound contact that is a STOP keyword
// the channel's inbound service recognised itself.
const KindStopKeyword = "stop_keyword"

// stopAt is when a STOP was sent: the customer's own time when the inbound
// service gives it (never later than now), else when JetStream stored the
// message. Both are the same on every delivery of the message, so a
// redelivered STOP records the same revocation.
func stopAt(in *hushv1.InboundContact, m *delivery, now time.Time) time.Time {
	if at := in.GetReceivedAt(); at != nil && at.AsTime().Before(now) {
		return at.AsTime()
	}
	if m.msg != nil {
		if md, err := m.msg.Metadata(); err == nil && !md.Timestamp.IsZero() && md.Timestamp.Before(now) {
			return md.Timestamp
		}
	}
	return now
}

// recordStop revokes consent to the inbound contact's channel for its
// sender scope (its service, or the whole company) when the contact is a
// STOP keyword: its body, normalised, is one of the policy's keywords, or
// the inbound service recognised one (kind stop_keyword). The revocation
// goes through the consent service, the preference-write path of the API:
// a new preferences version that the very next decision reads, and a
// PreferenceChange on the consent history (via stop_keyword, with the legal
// deadline in honour_by). A redelivered STOP changes nothing: the
// revocation it would record is in force already. The body is read here
// and nowhere else: it is never logged, put on a span or stored.
func (g *Gatekeeper) recordStop(ctx context.Context, in *hushv1.InboundContact, m *delivery) error {
	pol := g.policy.Load()
	lang, ok := pol.MatchStop(in.GetChannel(), in.GetBody())
	if !ok && in.GetKind() != KindStopKeyword {
		return nil
	}
	now := g.o.Now()
	at := stopAt(in, m, now)
	rev := &hushv1.Revocation{Channel: in.GetChannel(), Service: in.GetService(), At: timestamppb.New(at),
		Via: consent.ViaStopKeyword, Language: lang, HonourBy: timestamppb.New(pol.HonourBy(at))}
	svc := consent.New(g.store, g.js, consent.Options{Subjects: g.o.Subjects, Now: g.o.Now, Logger: g.o.Logger})
	res, err := svc.Apply(ctx, consent.Change{Customer: in.GetCustomerId(), Actor: consent.ActorCustomer, Via: consent.ViaStopKeyword,
		Mutate: func(p *hushv1.Preferences) error {
			consent.AddRevocation(p, rev) // none when in force already, or older than a later opt-in
			return nil
		}})
	if err != nil {
		return fmt.Errorf("record stop keyword: %w", err)
	}
	if !res.Unchanged {
		g.o.Logger.Info("stop keyword recorded", "customer_id", in.GetCustomerId(), "channel", in.GetChannel(),
			"service", in.GetService(), "language", lang, "version", res.Version)
	}
	return nil
}

// withoutBody is the inbound message with its body removed, encoded as it
// came (protobuf or JSON): what a dead letter may keep of it.
func withoutBody(in *hushv1.InboundContact, m *delivery) []byte {
	if in.GetBody() == "" {
		return m.data
	}
	c := proto.Clone(in).(*hushv1.InboundContact)
	c.Body = ""
	var b []byte
	var err error
	if bus.IsJSON(m.headers) {
		b, err = bus.JSONOut.Marshal(c)
	} else {
		b, err = proto.Marshal(c)
	}
	if err != nil {
		return nil
	}
	return b
}
