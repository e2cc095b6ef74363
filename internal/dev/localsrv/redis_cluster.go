package localsrv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClusterOptions configure a local Redis Cluster of private
// redis-server processes.
type RedisClusterOptions struct {
	// Dir holds one directory per node; required.
	Dir string
	// Masters is the number of master nodes (3), each owning a third of
	// the hash slots. No replicas: this is for tests and benchmarks.
	Masters int
	// AppendOnly turns the AOF on (fsync every second) on every node.
	AppendOnly bool
	// Args are extra redis-server arguments for every node.
	Args []string
}

// RedisCluster is a running local Redis Cluster.
type RedisCluster struct {
	// Nodes are the master processes.
	Nodes []*Redis
	// Addrs are the nodes' host:port addresses.
	Addrs []string
	// URL lists every node for internal/platform/connect: "redis+cluster://a,b,c".
	URL string
}

// StartRedisCluster starts o.Masters redis-server processes with
// cluster-enabled, joins them with `redis-cli --cluster create` and waits
// until every node reports the cluster ok.
func StartRedisCluster(ctx context.Context, o RedisClusterOptions) (*RedisCluster, error) {
	if o.Dir == "" {
		return nil, errors.New("start redis cluster: a directory is required")
	}
	if o.Masters <= 0 {
		o.Masters = 3
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("start redis cluster: redis-cli not found on PATH (it comes with redis-server)")
	}
	c := &RedisCluster{}
	for i := range o.Masters {
		dir := filepath.Join(o.Dir, "node-"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.Kill()
			return nil, fmt.Errorf("start redis cluster: %w", err)
		}
		// The cluster bus gets a port of its own: the default (port +
		// 10000) is out of range for most ephemeral ports.
		bus, err := FreePort()
		if err != nil {
			c.Kill()
			return nil, err
		}
		args := append([]string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
			"--cluster-port", strconv.Itoa(bus),
		}, o.Args...)
		n, err := StartRedis(ctx, RedisOptions{Dir: dir, AppendOnly: o.AppendOnly, Args: args})
		if err != nil {
			c.Kill()
			return nil, fmt.Errorf("start redis cluster node %d: %w", i, err)
		}
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, "127.0.0.1:"+strconv.Itoa(n.Port))
	}
	c.URL = "redis+cluster://" + strings.Join(c.Addrs, ",")

	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, lastLines(out, 5))
	}
	if err := c.waitOK(ctx, 30*time.Second); err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}

// waitOK waits until every node says cluster_state:ok and knows every
// node, so that a client's first slot map is the final one.
func (c *RedisCluster) waitOK(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.Addrs))+"\r") {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				return fmt.Errorf("redis cluster node %s not ok after %s: %v %q", addr, timeout, err, info)
			}
			select {
			case <-ctx.Done():
				rdb.Close()
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		rdb.Close()
	}
	return nil
}

// Kill stops every node at once.
func (c *RedisCluster) Kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}
