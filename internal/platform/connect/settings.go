package connect

import "log/slog"

// NATSSettings are the NATS connection settings every Hush binary that
// connects to a given NATS shares: embed it in the binary's settings struct
// (internal/platform/config), giving nats-inbox-prefix the binary's own
// default and help where its NATS permissions (deploy/nats) expect one.
type NATSSettings struct {
	NATSURL      string `conf:"nats-url" default:"nats://127.0.0.1:4222" help:"NATS server URL(s), comma-separated"`
	NATSCreds    string `conf:"nats-creds" help:"NATS credentials file"`
	NATSUser     string `conf:"nats-user" help:"NATS user (when no credentials file)"`
	NATSPassword string `conf:"nats-password" secret:"true" help:"NATS password"`
	NATSInbox    string `conf:"nats-inbox-prefix" help:"subject prefix of replies; a service reading intents or dispatches uses one its NATS permissions keep to itself"`
}

// Options are the NATSOptions these settings give a connection named name;
// set MaxPendingPublishes on them where the default does not fit.
func (s NATSSettings) Options(name string, log *slog.Logger) NATSOptions {
	return NATSOptions{Name: name, CredsFile: s.NATSCreds, User: s.NATSUser, Password: s.NATSPassword,
		InboxPrefix: s.NATSInbox, Logger: log}
}

// RedisSettings are the Redis connection settings every Hush binary that
// connects to a given Redis shares; embed it in the binary's settings
// struct. The URL carries the password (redis://:secret@host), which the
// logged configuration masks.
type RedisSettings struct {
	RedisURL string `conf:"redis-url" default:"redis://127.0.0.1:6379/0" help:"Redis URL; several comma-separated addresses for Redis Cluster"`
}
