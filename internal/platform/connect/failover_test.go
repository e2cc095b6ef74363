package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNodeFailureTellsADeadNodeFromAReply(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{context.Canceled, false},
		{errors.New("NOSCRIPT No matching script"), false},
		{errors.New("ERR wrong number of arguments"), false},
		{refused, true},
		{fmt.Errorf("decide: %w", refused), true},
		{io.EOF, true},
		{errors.New("CLUSTERDOWN The cluster is down"), true},
		{errors.New("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{errors.New("READONLY You can't write against a read only replica."), true},
	} {
		if got := nodeFailure(tt.err); got != tt.want {
			t.Errorf("nodeFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
