package policy

import policyfiles "github.com/hush-oss/hush/deploy/policy"

// LoadOrDefault loads the policy file at path, or the default policy
// shipped in deploy/policy when path is empty, so that every binary starts
// with a policy whether or not one is configured.
func LoadOrDefault(path string) (*Policy, error) {
	if path == "" {
		return Parse(policyfiles.DefaultName, policyfiles.Default)
	}
	return LoadFile(path)
}
