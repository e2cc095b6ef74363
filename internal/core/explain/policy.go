package explain

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hush-oss/hush/internal/core/bus"
	"github.com/hush-oss/hush/internal/core/policy"
)

// PublishedPolicy returns a policy the gatekeepers published
// (bus.PublishPolicy) with where it came from: the version asked for, or
// the one in force when version is empty or no longer published. The error
// wraps bus.ErrNoPolicy when the bucket holds no policy in force.
func PublishedPolicy(ctx context.Context, js jetstream.JetStream, s bus.Subjects, version string) (*policy.Policy, string, error) {
	bucket := s.PolicyBucket()
	got, text, err := bus.ReadPolicy(ctx, js, s, version)
	source := "in force, from " + bucket
	if version != "" {
		source = "the version that decided, from " + bucket
	}
	if errors.Is(err, bus.ErrNoPolicy) && version != "" {
		cur, ctext, cerr := bus.ReadPolicy(ctx, js, s, "")
		if cerr == nil {
			got, text, err = cur, ctext, nil
			source = fmt.Sprintf("version %s is not in %s: read with the version in force", version, bucket)
		}
	}
	if err != nil {
		return nil, "", err
	}
	p, err := policy.Parse(bucket+"/"+got, text)
	if err != nil {
		return nil, "", fmt.Errorf("policy %s from %s: %w", got, bucket, err)
	}
	return p, source, nil
}
