package deferral

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hush-oss/hush/internal/core/bus"
)

// Headers of a digest's release schedule.
const (
	// HeaderDigestID names the digest a release schedule releases.
	HeaderDigestID = "Hush-Digest-Id"
	// HeaderChannel is the digest's channel.
	HeaderChannel = "Hush-Channel"
)

// DigestSubject is the subject of the release schedule of a customer's
// pending digest: one per digest, so that a new schedule (an earlier
// release) replaces the last. It has one token more than a deferral's, so
// deferral listings never see it.
func DigestSubject(s bus.Subjects, customer, id string) string {
	return s.Prefix + ".deferred." + bus.Token(customer) + "." + bus.Token(id) + ".digest"
}

// DigestReleased is where a digest's release schedule fires.
func DigestReleased(s bus.Subjects, channel string) string {
	return s.Released(channel) + ".digest"
}

// IsDigestRelease reports whether a released message releases a digest.
func IsDigestRelease(s bus.Subjects, subject string, hdr nats.Header) bool {
	return s.IsReleased(subject) && hdr.Get(HeaderDigestID) != ""
}

// DigestScheduleMsg returns the message that releases digest id of a
// customer on a channel at releaseAt. It has no Nats-Msg-Id: a schedule
// replaced by an older one (two folds racing) must be stored again, which
// a duplicate window would drop.
func DigestScheduleMsg(s bus.Subjects, customer, channel, id string, releaseAt time.Time) *nats.Msg {
	m := nats.NewMsg(DigestSubject(s, customer, id))
	m.Data = []byte(id)
	at := releaseAt.UTC()
	m.Header.Set(hdrSchedule, "@at "+at.Format(time.RFC3339Nano))
	m.Header.Set(hdrScheduleTarget, DigestReleased(s, channel))
	m.Header.Set(hdrScheduleTTL, ReleasedTTL.String())
	m.Header.Set(HeaderReleaseAt, at.Format(time.RFC3339Nano))
	m.Header.Set(HeaderCustomer, customer)
	m.Header.Set(HeaderChannel, channel)
	m.Header.Set(HeaderDigestID, id)
	return m
}
