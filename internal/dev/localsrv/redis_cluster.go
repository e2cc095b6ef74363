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
	// Masters is the number of master nodes (3), each owning a share of
	// the hash slots.
	Masters int
	// Replicas is the number of replicas of each master (0). With one, a
	// killed master's replica takes its slots over (see KillPrimary).
	Replicas int
	// NodeTimeout is cluster-node-timeout (5s): how long a master may be
	// unreachable before its replica is promoted.
	NodeTimeout time.Duration
	// AppendOnly turns the AOF on (fsync every second, as
	// deploy/redis/redis.conf ships it) on every node.
	AppendOnly bool
	// Args are extra redis-server arguments for every node.
	Args []string
}

// RedisCluster is a running local Redis Cluster.
type RedisCluster struct {
	// Nodes are the processes: the masters as created first, then their
	// replicas. Roles change on a failover; Role tells the current one.
	Nodes []*Redis
	// Addrs are the nodes' host:port addresses, in the order of Nodes.
	Addrs []string
	// URL lists every node for internal/platform/connect: "redis+cluster://a,b,c".
	URL string
}

// StartRedisCluster starts o.Masters×(1+o.Replicas) redis-server processes
// with cluster-enabled, joins them with `redis-cli --cluster create` and
// waits until every node reports the cluster ok and every replica is in
// sync with its master.
func StartRedisCluster(ctx context.Context, o RedisClusterOptions) (*RedisCluster, error) {
	if o.Dir == "" {
		return nil, errors.New("start redis cluster: a directory is required")
	}
	if o.Masters <= 0 {
		o.Masters = 3
	}
	if o.Replicas < 0 {
		o.Replicas = 0
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 5 * time.Second
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if _, serr := exec.LookPath("redis-server"); serr != nil {
			return nil, ErrNoRedisServer
		}
		return nil, fmt.Errorf("start redis cluster: redis-cli not found on PATH (it comes with redis-server)")
	}
	c := &RedisCluster{}
	for i := range o.Masters * (1 + o.Replicas) {
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
			"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
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

	// redis-cli makes the first Masters nodes masters and gives each the
	// replicas that follow (all on one host, it warns, and goes on).
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(o.Replicas), "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, lastLines(out, 5))
	}
	if err := c.waitOK(ctx, 60*time.Second); err != nil {
		c.Kill()
		return nil, err
	}
	return c, nil
}

// waitOK waits until every node says cluster_state:ok and knows every
// node, so that a client's first slot map is the final one, and until every
// replica has its master's data.
func (c *RedisCluster) waitOK(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		for {
			err := nodeReady(ctx, rdb, len(c.Addrs))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				return fmt.Errorf("redis cluster node %s not ready after %s: %v", addr, timeout, err)
			}
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				rdb.Close()
				return err
			}
		}
		rdb.Close()
	}
	return nil
}

// replicasOf returns the nodes that replicate node m now.
func (c *RedisCluster) replicasOf(ctx context.Context, m int) (map[int]bool, error) {
	ids := make([]string, len(c.Addrs))
	masters := make([]string, len(c.Addrs))
	for j := range c.Addrs {
		rdb := c.Client(j)
		var err error
		ids[j], masters[j], err = myself(ctx, rdb)
		rdb.Close()
		if err != nil && j == m {
			return nil, fmt.Errorf("redis cluster node %s: %w", c.Addrs[j], err)
		}
	}
	out := map[int]bool{}
	for j, master := range masters {
		if j != m && master == ids[m] {
			out[j] = true
		}
	}
	return out, nil
}

// myself returns a node's cluster id and its master's id ("-" for a
// master), from its own line of CLUSTER NODES: id addr flags master-id
// ping pong epoch link slots...
func myself(ctx context.Context, rdb *redis.Client) (id, master string, err error) {
	nodes, err := rdb.ClusterNodes(ctx).Result()
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		if f := strings.Fields(line); len(f) >= 8 && strings.Contains(f[2], "myself") {
			return f[0], f[3], nil
		}
	}
	return "", "", errors.New("no myself line in CLUSTER NODES")
}

// nodeReady says why a node is not ready yet: cluster state, nodes known,
// and for a replica its link to its master.
func nodeReady(ctx context.Context, rdb *redis.Client, nodes int) error {
	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(nodes)+"\r") {
		return fmt.Errorf("cluster info %q", info)
	}
	repl, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return errors.New("replica not in sync with its master yet")
	}
	return nil
}

// Role is "master" or "replica", as node i itself says; an error when it
// does not answer.
func (c *RedisCluster) Role(ctx context.Context, i int) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: c.Addrs[i], MaxRetries: -1})
	defer rdb.Close()
	repl, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return "", fmt.Errorf("redis cluster node %s: %w", c.Addrs[i], err)
	}
	if strings.Contains(repl, "role:master") {
		return "master", nil
	}
	return "replica", nil
}

// Failover is what KillPrimary saw.
type Failover struct {
	// Killed and Promoted are indexes into Nodes.
	Killed, Promoted int
	// Took is from the SIGKILL until every surviving node says the
	// cluster is ok again with the replica serving the slots.
	Took time.Duration
}

// KillPrimary kills master i at once (SIGKILL, no CLUSTER FAILOVER) and
// waits until the cluster has promoted one of its replicas on its own
// (after NodeTimeout) and every surviving node says the cluster is ok.
func (c *RedisCluster) KillPrimary(ctx context.Context, i int, timeout time.Duration) (Failover, error) {
	if role, err := c.Role(ctx, i); err != nil || role != "master" {
		return Failover{}, fmt.Errorf("kill primary: node %d is %q (%v), not a master", i, role, err)
	}
	replicas, err := c.replicasOf(ctx, i)
	if err != nil || len(replicas) == 0 {
		return Failover{}, fmt.Errorf("kill primary: node %d has no replica to promote (%v)", i, err)
	}
	start := time.Now()
	c.Nodes[i].Kill()
	deadline := start.Add(timeout)
	for {
		promoted, err := c.promotedFrom(ctx, i, replicas)
		if err == nil {
			return Failover{Killed: i, Promoted: promoted, Took: time.Since(start)}, nil
		}
		if time.Now().After(deadline) {
			return Failover{}, fmt.Errorf("kill primary %s: no replica promoted after %s: %w", c.Addrs[i], timeout, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return Failover{}, err
		}
	}
}

// promotedFrom finds which of the replicas of the dead node is now a
// master, and checks that every other node says the cluster is ok.
func (c *RedisCluster) promotedFrom(ctx context.Context, dead int, replicas map[int]bool) (int, error) {
	promoted := -1
	for j, addr := range c.Addrs {
		if j == dead {
			continue
		}
		rdb := c.Client(j)
		info, err := rdb.ClusterInfo(ctx).Result()
		var master string
		if err == nil {
			_, master, err = myself(ctx, rdb)
		}
		rdb.Close()
		if err != nil {
			return -1, fmt.Errorf("%s: %w", addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return -1, fmt.Errorf("%s: cluster not ok", addr)
		}
		if replicas[j] && master == "-" {
			promoted = j
		}
	}
	if promoted < 0 {
		return -1, errors.New("no replica of the dead master is a master yet")
	}
	return promoted, nil
}

// Kill stops every node at once.
func (c *RedisCluster) Kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Client returns a plain client of node i (closed with c's other
// resources by the caller): for commands that go to one node, WAIT say.
func (c *RedisCluster) Client(i int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: c.Addrs[i], MaxRetries: -1})
}
