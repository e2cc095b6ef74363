// Package connect opens the connections every Hush binary needs (NATS with
// JetStream, Redis) with the same resilient settings.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/platform/config"
)

// NATSOptions name the connection and carry credentials.
type NATSOptions struct {
	Name string
	// CredsFile is a NATS credentials file; User and Password are used
	// when it is empty.
	CredsFile      string
	User, Password string
	// MaxPendingPublishes bounds asynchronous publishes awaiting acks.
	MaxPendingPublishes int
	// InboxPrefix replaces "_INBOX" for replies: messages a consumer pulls
	// arrive there. A service reading intents or dispatches uses a prefix
	// its NATS permissions keep to itself (deploy/nats), so that producers,
	// who may subscribe to _INBOX.>, cannot read them.
	InboxPrefix string
	Logger      *slog.Logger
}

// NATS connects, reconnecting forever, and returns the JetStream context
// with a publish-ack timeout so that no asynchronous publish waits forever.
func NATS(url string, o NATSOptions) (*nats.Conn, jetstream.JetStream, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(64 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats %s: %w", config.MaskURL(url), err)
	}
	pending := o.MaxPendingPublishes
	if pending <= 0 {
		pending = 4096
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(pending), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// Redis opens a client for a redis:// or rediss:// URL, or for Redis Cluster
// when the URL lists several comma-separated addresses
// ("redis://a:7000,b:7001,c:7002") or uses the redis+cluster:// scheme. It
// checks the server answers.
func Redis(ctx context.Context, url string, poolSize int) (redis.UniversalClient, error) {
	var rdb redis.UniversalClient
	if strings.Contains(url, "+cluster://") || strings.Contains(url, ",") {
		copts, err := clusterOptions(url)
		if err != nil {
			return nil, fmt.Errorf("redis cluster url %s: %w", config.MaskURL(url), err)
		}
		copts.PoolSize = poolSize
		cc := redis.NewClusterClient(copts)
		cc.AddHook(followFailover{cc})
		rdb = cc
	} else {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis url %s: %w", config.MaskURL(url), err)
		}
		opts.PoolSize = poolSize
		rdb = redis.NewClient(opts)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", config.MaskURL(url), err)
	}
	return rdb, nil
}

// clusterOptions turns "redis://[user:pass@]a:1,b:2,c:3[/0][?opts]" or
// "redis+cluster://..." into the form go-redis parses, where every address
// after the first is an addr query parameter. A cluster has only database 0.
func clusterOptions(raw string) (*redis.ClusterOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("no scheme")
	}
	scheme = strings.TrimSuffix(scheme, "+cluster")
	hosts, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts, tail = rest[:i], rest[i:]
	}
	userinfo := ""
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		userinfo, hosts = hosts[:i+1], hosts[i+1:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if db := strings.Trim(path, "/"); db != "" && db != "0" {
		return nil, fmt.Errorf("database %s: a cluster has only database 0", db)
	}
	q, err := neturl.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	addrs := strings.Split(hosts, ",")
	for _, a := range addrs[1:] {
		if a = strings.TrimSpace(a); a != "" {
			q.Add("addr", a)
		}
	}
	u := scheme + "://" + userinfo + strings.TrimSpace(addrs[0])
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return redis.ParseClusterURL(u)
}
