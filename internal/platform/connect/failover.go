package connect

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// followFailover makes a cluster client learn a new slot map as soon as a
// command fails on a node rather than with an answer. A master that dies
// answers nothing, so no MOVED tells the client that its replica now serves
// its slots: go-redis would send those slots to the dead address until its
// periodic reload (a minute). With this hook every such failure asks for a
// reload (go-redis runs one at a time, 200 ms apart), so the client follows
// a promotion within a reload of it.
type followFailover struct{ c *redis.ClusterClient }

func (followFailover) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h followFailover) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if nodeFailure(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

func (h followFailover) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		failed := nodeFailure(err)
		for _, cmd := range cmds {
			failed = failed || nodeFailure(cmd.Err())
		}
		if failed {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

// nodeFailure: the node did not answer (refused, reset, timed out), or the
// cluster said its slots are not served (CLUSTERDOWN, TRYAGAIN, a replica
// answering READONLY). A reply of the script (or redis.Nil) is not one.
func nodeFailure(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	s := err.Error()
	for _, p := range []string{"CLUSTERDOWN", "TRYAGAIN", "READONLY", "MASTERDOWN"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
