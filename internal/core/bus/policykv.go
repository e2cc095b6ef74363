package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/nats-io/nats.go/jetstream"
)

// KindPolicies names the key-value bucket of the policies in force
// ("HUSH_POLICIES"): the gatekeeper writes each policy it runs under its
// version, and the version in force under PolicyCurrent, at start-up and on
// every reload; hushctl reads them, so that it explains a decision with the
// policy that made it rather than with a file of its own.
const KindPolicies = "POLICIES"

// PolicyCurrent is the key holding the version in force.
const PolicyCurrent = "current"

// ErrNoPolicy is returned by ReadPolicy when the bucket or the version is
// not there.
var ErrNoPolicy = errors.New("no policy published")

// PolicyBucket is the name of the policies bucket.
func (s Subjects) PolicyBucket() string { return s.Stream(KindPolicies) }

var kvKeyUnsafe = regexp.MustCompile(`[^-/_=.a-zA-Z0-9]`)

// PolicyKey is the key of a version: the version with the characters a
// key may not hold replaced by "_".
func PolicyKey(version string) string {
	if version == "" {
		return "_"
	}
	return kvKeyUnsafe.ReplaceAllString(version, "_")
}

// PublishPolicy records a policy as the one in force: its text under its
// version, then the version under PolicyCurrent. The bucket is created
// with replicas the first time.
func PublishPolicy(ctx context.Context, js jetstream.JetStream, s Subjects, version string, text []byte, replicas int) error {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: s.PolicyBucket(),
		Description: "Hush: the policies the gatekeepers run, by version, and the version in force", History: 16, Replicas: max(replicas, 1)})
	if err != nil {
		return fmt.Errorf("policy bucket: %w", err)
	}
	if _, err := kv.Put(ctx, PolicyKey(version), text); err != nil {
		return fmt.Errorf("publish policy %s: %w", version, err)
	}
	if _, err := kv.PutString(ctx, PolicyCurrent, version); err != nil {
		return fmt.Errorf("publish policy %s: %w", version, err)
	}
	return nil
}

// ReadPolicy returns the text of a published version, or of the version in
// force when version is empty, with that version.
func ReadPolicy(ctx context.Context, js jetstream.JetStream, s Subjects, version string) (string, []byte, error) {
	kv, err := js.KeyValue(ctx, s.PolicyBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return "", nil, fmt.Errorf("%w: no bucket %s", ErrNoPolicy, s.PolicyBucket())
	}
	if err != nil {
		return "", nil, fmt.Errorf("policy bucket: %w", err)
	}
	if version == "" {
		e, err := kv.Get(ctx, PolicyCurrent)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", nil, fmt.Errorf("%w: no version in force in %s", ErrNoPolicy, s.PolicyBucket())
		}
		if err != nil {
			return "", nil, fmt.Errorf("policy in force: %w", err)
		}
		version = string(e.Value())
	}
	e, err := kv.Get(ctx, PolicyKey(version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return version, nil, fmt.Errorf("%w: version %s is not in %s", ErrNoPolicy, version, s.PolicyBucket())
	}
	if err != nil {
		return version, nil, fmt.Errorf("policy %s: %w", version, err)
	}
	return version, e.Value(), nil
}
