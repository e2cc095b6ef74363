// Package policyfiles embeds the default policy shipped in deploy/policy, so
// that binaries start with it when no policy file is configured.
package policyfiles

import _ "embed"

// DefaultName is the name errors and decisions use for the embedded policy.
const DefaultName = "deploy/policy/default.yaml"

// Default is the content of deploy/policy/default.yaml.
//
//go:embed default.yaml
var Default []byte
