package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RedisStats is what INFO says about a server (summed over the masters of
// a cluster) at one moment.
type RedisStats struct {
	// Calls per command name, from INFO commandstats. Commands a script
	// runs are counted there too.
	Calls map[string]int64
	// UsedMemory is INFO memory used_memory, in bytes.
	UsedMemory int64
	// CPU is used_cpu_user + used_cpu_sys, in seconds.
	CPU float64
}

// ReadRedisStats reads INFO commandstats and memory from every master.
func ReadRedisStats(ctx context.Context, rdb redis.UniversalClient) (RedisStats, error) {
	st := RedisStats{Calls: map[string]int64{}}
	var mu sync.Mutex
	read := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats", "memory", "cpu").Result()
		if err != nil {
			return fmt.Errorf("redis info: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for line := range strings.SplitSeq(info, "\n") {
			line = strings.TrimSpace(line)
			if name, rest, ok := strings.Cut(line, ":"); ok {
				if cmd, ok := strings.CutPrefix(name, "cmdstat_"); ok {
					calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
					n, _ := strconv.ParseInt(calls, 10, 64)
					st.Calls[cmd] += n
				}
				switch name {
				case "used_memory":
					n, _ := strconv.ParseInt(rest, 10, 64)
					st.UsedMemory += n
				case "used_cpu_user", "used_cpu_sys":
					f, _ := strconv.ParseFloat(rest, 64)
					st.CPU += f
				}
			}
		}
		return nil
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return st, c.ForEachMaster(ctx, read)
	case *redis.Client:
		return st, read(ctx, c)
	}
	return st, fmt.Errorf("redis info: unsupported client %T", rdb)
}

// scriptCommands are the commands decide.lua runs inside the script; INFO
// counts them as calls, but they are not round trips.
var scriptCommands = map[string]bool{
	"get": true, "hget": true, "set": true, "zadd": true, "zremrangebyscore": true,
	"zrangebyscore": true, "pexpire": true, "zcount": true, "zrange": true, "hmget": true,
	"hset": true, "hincrby": true, "del": true, "exists": true, "expire": true, "incr": true,
	"incrby": true, "zcard": true, "hgetall": true, "zrem": true, "pttl": true, "ttl": true, "time": true,
}

// ClientCalls is the commands clients sent between two snapshots: script
// calls (evalsha, eval, script load) and anything else no script runs,
// leaving out INFO and CLUSTER housekeeping.
func ClientCalls(before, after RedisStats) (scripts, others int64) {
	for cmd, n := range after.Calls {
		d := n - before.Calls[cmd]
		switch {
		case d <= 0:
		case cmd == "evalsha" || cmd == "eval" || cmd == "evalsha_ro" || cmd == "eval_ro" || strings.HasPrefix(cmd, "script"):
			scripts += d
		case cmd == "info" || strings.HasPrefix(cmd, "cluster") || strings.HasPrefix(cmd, "config") ||
			cmd == "ping" || cmd == "hello" || strings.HasPrefix(cmd, "client") || cmd == "command" ||
			strings.HasPrefix(cmd, "command|") || cmd == "select" || scriptCommands[cmd]:
		default:
			others += d
		}
	}
	return scripts, others
}

// TripCounter is a go-redis hook that counts round trips a client makes:
// one per command, one per pipeline.
type TripCounter struct {
	trips, commands atomic.Int64
}

// DialHook implements redis.Hook.
func (t *TripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (t *TripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t.trips.Add(1)
		t.commands.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (t *TripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t.trips.Add(1)
		t.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Trips is the round trips counted so far.
func (t *TripCounter) Trips() int64 { return t.trips.Load() }

var _ redis.Hook = (*TripCounter)(nil)
