// Package packs embeds the regulation packs shipped in deploy/policy/packs,
// so that a policy file can name them ("packs: [{name: us-tcpa}]") without
// a path.
package packs

import "embed"

// FS holds every pack file, "<name>.yaml".
//
//go:embed *.yaml
var FS embed.FS
