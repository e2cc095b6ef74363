package deferral

import (
	"strconv"
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
// pending digest on a channel: one per customer and channel, so that a new
// schedule (an earlier release, the next digest) replaces the last. It has
// one token more than a deferral's, so deferral listings never see it.
func DigestSubject(s bus.Subjects, customer, channel string) string {
	return s.Prefix + ".deferred." + bus.Token(customer) + "." + bus.Token(channel) + ".digest"
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
// customer on a channel at releaseAt; its Nats-Msg-Id names the digest and
// the time, so that scheduling the same release twice stores it once.
func DigestScheduleMsg(s bus.Subjects, customer, channel, id string, releaseAt time.Time) *nats.Msg {
	m := nats.NewMsg(DigestSubject(s, customer, channel))
	m.Data = []byte(id)
	at := releaseAt.UTC()
	m.Header.Set(hdrSchedule, "@at "+at.Format(time.RFC3339Nano))
	m.Header.Set(hdrScheduleTarget, DigestReleased(s, channel))
	m.Header.Set(hdrScheduleTTL, ReleasedTTL.String())
	m.Header.Set(HeaderReleaseAt, at.Format(time.RFC3339Nano))
	m.Header.Set(HeaderCustomer, customer)
	m.Header.Set(HeaderChannel, channel)
	m.Header.Set(HeaderDigestID, id)
	m.Header.Set(bus.HeaderMsgID, "digest/"+id+"/"+strconv.FormatInt(at.UnixMilli(), 10))
	return m
}
