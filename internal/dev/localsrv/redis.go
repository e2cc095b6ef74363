package localsrv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoRedisServer is returned when redis-server is not on PATH.
var ErrNoRedisServer = errors.New("redis-server not found on PATH")

// RedisOptions configure a private redis-server process.
type RedisOptions struct {
	// Dir holds the server's files (AOF, log); required.
	Dir string
	// Port 0 picks a free port.
	Port int
	// AppendOnly turns on the AOF with fsync every second, as in production.
	AppendOnly bool
	// Args are extra redis-server arguments ("--aclfile", path, ...).
	Args []string
}

// Redis is a redis-server process started by StartRedis.
type Redis struct {
	// URL is redis://127.0.0.1:<port>/0.
	URL  string
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
	opts RedisOptions
}

// StartRedis starts redis-server on 127.0.0.1 and waits until it answers
// PING. The process dies with this one (Pdeathsig), so nothing is orphaned.
func StartRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedisServer
	}
	if o.Dir == "" {
		return nil, errors.New("start redis: a directory is required")
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	if o.Port == 0 {
		if o.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	r := &Redis{Port: o.Port, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", o.Port), opts: o}
	if err := r.start(ctx, bin); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Redis) start(ctx context.Context, bin string) error {
	o := r.opts
	args := []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(o.Port),
		"--dir", o.Dir, "--save", "", "--daemonize", "no",
		"--logfile", filepath.Join(o.Dir, "redis.log"),
		"--protected-mode", "yes",
		// As deploy/redis/redis.conf: contact ledgers and customers'
		// decision records stay listpacks.
		"--zset-max-listpack-value", "128",
		"--hash-max-listpack-value", "256",
		// As deploy/redis/redis.conf: no per-command latency histograms
		// (INFO latencystats is empty), about 1% of the server's CPU.
		"--latency-tracking", "no",
	}
	if o.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, o.Args...)
	r.log = new(bytes.Buffer)
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.done) }()

	addr := fmt.Sprintf("127.0.0.1:%d", r.Port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Dial first, so that the client library has nothing to complain
		// about while the server is still starting.
		err := probe(addr)
		if err == nil {
			rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			err = rdb.Ping(ctx).Err()
			rdb.Close()
			if err == nil || isAuthErr(err) {
				return nil
			}
		}
		select {
		case <-r.done:
			logs, _ := os.ReadFile(filepath.Join(o.Dir, "redis.log"))
			return fmt.Errorf("redis-server exited at start-up: %s%s", r.log.String(), lastLines(logs, 5))
		case <-ctx.Done():
			r.Kill()
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Kill()
			return fmt.Errorf("redis-server on port %d not answering after 10s: %v", r.Port, err)
		}
	}
}

func probe(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func isAuthErr(err error) bool {
	s := err.Error()
	return bytes.Contains([]byte(s), []byte("NOAUTH")) || bytes.Contains([]byte(s), []byte("WRONGPASS"))
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		<-r.done
	}
}

// Stop asks the server to shut down (SIGTERM) and waits up to 5s.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.Kill()
	}
}

// Restart stops the server and starts it again on the same port and
// directory (with AOF on, its data comes back).
func (r *Redis) Restart(ctx context.Context) error {
	r.Stop()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return ErrNoRedisServer
	}
	return r.start(ctx, bin)
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
