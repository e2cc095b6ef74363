package gatekeeper

import (
	"github.com/hush-oss/hush/internal/core/deferral"
	"github.com/hush-oss/hush/internal/core/policy"
)

// publisher returns the channel of the subject an intent arrived on and who
// published it. The producer is the subject's producer token
// (hush.intent.<producer>.<channel>), which NATS lets only that producer's
// credential publish (deploy/nats/accounts.conf); the policy refuses an
// intent whose sender.service says otherwise, or whose subject names no
// producer. A released deferral arrives on hush.released.<channel>, which
// only JetStream's scheduler publishes, from the schedule the gatekeeper
// stored with the subject the intent first arrived on: that subject names
// its producer, checked again.
func (g *Gatekeeper) publisher(m *delivery) (channel string, pub *policy.Publisher) {
	subject := m.subject
	if g.o.Subjects.IsReleased(subject) {
		channel = g.o.Subjects.Channel(subject)
		subject = m.headers.Get(deferral.HeaderIntentSubject)
		producer, _, _ := g.o.Subjects.IntentSource(subject)
		return channel, &policy.Publisher{Subject: subject, Producer: producer}
	}
	producer, channel, _ := g.o.Subjects.IntentSource(subject)
	return channel, &policy.Publisher{Subject: subject, Producer: producer}
}
