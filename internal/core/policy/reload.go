package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"time"
)

// Reloader keeps a running service on the latest good policy: it reloads on
// a signal (SIGHUP) and when the file's content changes. A file that does
// not load is rejected with an error logged, and the policy in force keeps
// running.
type Reloader struct {
	// Path is the policy file; empty means an embedded policy with nothing
	// to watch (signals still reload it, harmlessly).
	Path string
	// Load reads and validates the policy at Path.
	Load func(path string) (*Policy, error)
	// Apply puts a new policy in force.
	Apply func(*Policy)
	// Current reports the version in force, for the log (optional).
	Current func() string
	// Interval is how often the file is checked for changes (2s); the
	// check compares a hash of the content, so touching a file without
	// changing it reloads nothing.
	Interval time.Duration
	Logger   *slog.Logger
}

// Run reloads until ctx is done, on every value from signals and on every
// change of the file.
func (r *Reloader) Run(ctx context.Context, signals <-chan os.Signal) error {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := r.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	var tick <-chan time.Time
	var last fileState
	if r.Path != "" {
		last = stat(r.Path)
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	reload := func(why string) {
		pol, err := r.Load(r.Path)
		if err != nil {
			current := ""
			if r.Current != nil {
				current = r.Current()
			}
			log.Error("policy reload rejected; the previous policy stays in force", "why", why, "err", err, "version", current)
			return
		}
		r.Apply(pol)
		log.Info("policy reloaded", "why", why, "version", pol.Version, "file", r.Path)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-signals:
			if r.Path != "" {
				last = stat(r.Path)
			}
			reload("signal")
		case <-tick:
			now := stat(r.Path)
			if now.changedFrom(last) {
				last = now
				reload("file changed")
			}
		}
	}
}

// fileState is what tells a changed file from an unchanged one.
type fileState struct {
	sum     [sha256.Size]byte
	missing bool
}

func stat(path string) fileState {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileState{missing: true}
	}
	return fileState{sum: sha256.Sum256(data)}
}

// changedFrom reports a change of content. A file that disappears (an
// editor's rename dance) is not a change: its return is compared with the
// last content seen.
func (s fileState) changedFrom(old fileState) bool {
	if s.missing {
		return false
	}
	return !bytes.Equal(s.sum[:], old.sum[:]) || old.missing
}
