package deploy_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/dev/testenv"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// TestNATSConfigRunsWithoutDocker parses the command line docs/operations.md
// gives for a NATS server outside Docker the way nats-server's main does
// (server.ConfigureOptions: the file, then the flags over it), starts that
// server, and publishes as a Hush user: the store directory comes from -sd,
// so the file must not name one too.
func TestNATSConfigRunsWithoutDocker(t *testing.T) {
	for user, pw := range natsPasswords {
		t.Setenv(passwordVar(user), pw)
	}
	store := t.TempDir()
	fs := flag.NewFlagSet("nats-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts, err := server.ConfigureOptions(fs, []string{"-c", "nats/nats.conf", "-m", "-1", "-sd", store, "-a", "127.0.0.1", "-p", "-1"},
		func() {}, func() {}, func() {})
	if err != nil {
		t.Fatalf("nats-server -c deploy/nats/nats.conf -sd DIR: %v", err)
	}
	if opts.Host != "127.0.0.1" {
		t.Errorf("-a 127.0.0.1 did not win over the file: host %q", opts.Host)
	}
	if opts.StoreDir != store || !opts.JetStream || !opts.SyncAlways {
		t.Errorf("store %q (want %q), JetStream %v, sync always %v", opts.StoreDir, store, opts.JetStream, opts.SyncAlways)
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("admin", natsPasswords["admin"]))
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	defer nc.Close()
	if _, err := os.Stat(filepath.Join(store, "jetstream")); err != nil {
		t.Errorf("JetStream does not keep its files under -sd: %v", err)
	}

	// The file alone listens on every interface, as a container needs, and
	// says so.
	raw, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "host: 0.0.0.0") || !strings.Contains(string(raw), "EVERY interface") {
		t.Error("nats.conf must say that it listens on every interface")
	}
}

// TestRedisConfigRunsWithoutDocker starts redis-server exactly as
// docs/operations.md says (the shipped redis.conf, --dir and --aclfile on
// the command line) plus a private port and address, and talks to it as
// the hush user: the data directory comes from --dir, so the file must not
// name one that exists only in the container.
func TestRedisConfigRunsWithoutDocker(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server is not installed: make deps, or sudo apt-get install redis-server")
	}
	const hushPW, adminPW = "hush-nodocker-5d1e", "admin-nodocker-a27c"
	dir := t.TempDir()
	acl := filepath.Join(dir, "hush.acl")
	render := exec.Command("sh", "redis/render-acl.sh", "redis/users.acl.template", acl)
	render.Env = append(os.Environ(), "HUSH_REDIS_PASSWORD="+hushPW, "HUSH_REDIS_ADMIN_PASSWORD="+adminPW)
	if out, err := render.CombinedOutput(); err != nil {
		t.Fatalf("render-acl.sh: %v\n%s", err, out)
	}
	port := freeTCPPort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "redis/redis.conf", "--dir", dir, "--aclfile", acl, "--port", port, "--bind", "127.0.0.1")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Username: "hush", Password: hushPW})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("redis-server deploy/redis/redis.conf --dir DIR exited: %v\n%s", waitErr, logs.String())
		case <-ctx.Done():
			t.Fatalf("no PONG as hush: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := rdb.Set(ctx, "hush:nodocker", "1", time.Minute).Err(); err != nil {
		t.Fatalf("SET as hush: %v", err)
	}
	admin := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, Username: "admin", Password: adminPW})
	defer admin.Close()
	got, err := admin.ConfigGet(ctx, "dir").Result()
	if err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(dir); got["dir"] != dir && got["dir"] != real {
		t.Errorf("dir %q, want %q from --dir", got["dir"], dir)
	}
	if v, _ := admin.ConfigGet(ctx, "appendonly").Result(); v["appendonly"] != "yes" {
		t.Errorf("appendonly %v: the shipped file was not loaded", v)
	}
	raw, err := os.ReadFile("redis/redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "EVERY interface") {
		t.Error("redis.conf must say that it listens on every interface")
	}
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
