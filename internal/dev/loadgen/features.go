package loadgen

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hush-oss/hush/internal/core/policy"
)

// featuresYAML is the policy of the "features" phase: the default policy
// with priorities, a reserved budget, a deferring cap, a digest and the
// regulation packs on.
//
//go:embed features.yaml
var featuresYAML []byte

// FeaturesPolicy returns the policy of the features phase.
func FeaturesPolicy() (*policy.Policy, error) {
	p, err := policy.Parse("internal/dev/loadgen/features.yaml", featuresYAML)
	if err != nil {
		return nil, fmt.Errorf("features policy: %w", err)
	}
	return p, nil
}

// WriteFeaturesPolicy writes the features phase's policy into dir, for
// gatekeeper processes, and returns its path.
func WriteFeaturesPolicy(dir string) (string, error) {
	path := filepath.Join(dir, "features.yaml")
	if err := os.WriteFile(path, featuresYAML, 0o644); err != nil {
		return "", fmt.Errorf("features policy: %w", err)
	}
	return path, nil
}
