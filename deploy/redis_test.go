package deploy_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hush-oss/hush/internal/core/policy"
	"github.com/hush-oss/hush/internal/core/store"
	"github.com/hush-oss/hush/internal/dev/localsrv"
	hushv1 "github.com/hush-oss/hush/proto/hush/v1"
)

// aclRedis renders deploy/redis/users.acl.template with render-acl.sh, as
// the compose service does, and starts redis-server with it.
func aclRedis(t *testing.T, hushPassword, adminPassword string) *localsrv.Redis {
	t.Helper()
	dir := t.TempDir()
	acl := filepath.Join(dir, "users.acl")
	cmd := exec.Command("sh", "redis/render-acl.sh", "redis/users.acl.template", acl)
	cmd.Env = append(os.Environ(), "HUSH_REDIS_PASSWORD="+hushPassword, "HUSH_REDIS_ADMIN_PASSWORD="+adminPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("render-acl.sh: %v\n%s", err, out)
	}
	rendered, err := os.ReadFile(acl)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rendered), hushPassword) || strings.Contains(string(rendered), adminPassword) {
		t.Fatalf("the rendered ACL file holds a plaintext password:\n%s", rendered)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := localsrv.StartRedis(ctx, localsrv.RedisOptions{Dir: dir, AppendOnly: true, Args: []string{"--aclfile", acl}})
	if err != nil {
		t.Fatalf("redis-server with deploy/redis ACL: %v", err)
	}
	t.Cleanup(r.Kill)
	return r
}

func redisAs(t *testing.T, r *localsrv.Redis, user, password string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(r.URL, "redis://"), "/0"), Username: user, Password: password})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestRedisHushUserRunsTheStoreButNotAdminCommands(t *testing.T) {
	const hushPW, adminPW = "hush-test-pw-9f3b", "admin-test-pw-71c2"
	r := aclRedis(t, hushPW, adminPW)
	ctx := context.Background()

	rdb := redisAs(t, r, "hush", hushPW)
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("hush PING: %v", err)
	}
	st := store.New(rdb, "hush")
	if _, _, err := st.SetPreferences(ctx, "c-acl", &hushv1.Preferences{CustomerId: "c-acl", OptedOutChannels: []string{"sms"}}, nil); err != nil {
		t.Fatalf("SetPreferences as hush: %v", err)
	}
	p, v, err := st.Preferences(ctx, "c-acl")
	if err != nil || v == 0 || len(p.GetOptedOutChannels()) != 1 {
		t.Fatalf("Preferences as hush: %v %d %v", p, v, err)
	}
	pol, err := policy.Parse("t.yaml", []byte("version: acl-1\ncategories:\n  marketing: { class: marketing }\ncaps:\n  - { id: hourly, scope: customer, window: 1h, max: 5, classes: [marketing] }\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	it := &hushv1.ContactIntent{Id: "acl-1", CustomerId: "c-acl", Channel: "email", Category: "marketing", Sender: &hushv1.Sender{Service: "s"}}
	verdict := pol.Evaluate(policy.Input{Intent: it, Prefs: p, Now: now})
	res, err := st.Decide(ctx, store.DecideRequest{Intent: it, PrefsVersion: v, Now: now, Verdict: &verdict,
		Decision:          &hushv1.Decision{IntentId: "acl-1", CustomerId: "c-acl", Outcome: verdict.Outcome, PolicyVersion: pol.Version},
		DecisionRetention: time.Hour, LedgerRetention: time.Hour})
	if err != nil || res.Stale || res.Decision == nil {
		t.Fatalf("Decide as hush: %+v %v", res, err)
	}
	if ledger, err := st.Ledger(ctx, "c-acl", now.Add(-time.Minute)); err != nil || len(ledger) != 1 {
		t.Fatalf("Ledger as hush: %v %v", ledger, err)
	}
	if _, err := st.Decision(ctx, "c-acl", "acl-1"); err != nil {
		t.Fatalf("Decision as hush: %v", err)
	}

	for _, args := range [][]any{
		{"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "GET", "*"}, {"CONFIG", "SET", "appendonly", "no"},
		{"KEYS", "*"}, {"SCAN", "0"}, {"BGREWRITEAOF"}, {"CLIENT", "LIST"}, {"SHUTDOWN", "NOSAVE"}, {"ACL", "LIST"}, {"MONITOR"},
		{"SCRIPT", "FLUSH"}, {"GET", "not-hush:key"}, {"SET", "other:key", "x"},
	} {
		err := rdb.Do(ctx, args...).Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("hush ran %v: %v; want NOPERM", args, err)
		}
	}
	// A script may not reach outside hush:* either.
	err = rdb.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{"elsewhere:x"}).Err()
	if err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("a script read a key outside hush:*: %v", err)
	}
	if n, err := rdb.DBSize(ctx).Result(); err == nil {
		t.Errorf("hush ran DBSIZE (%d)", n)
	}

	// No anonymous access; a wrong password is refused.
	anon := redisAs(t, r, "", "")
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("anonymous PING: %v; want NOAUTH", err)
	}
	wrong := redisAs(t, r, "hush", "not-the-password")
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("wrong password: %v; want WRONGPASS", err)
	}

	// Operators can do what they must (AOF rewrite for backups).
	admin := redisAs(t, r, "admin", adminPW)
	if err := admin.BgRewriteAOF(ctx).Err(); err != nil {
		t.Errorf("admin BGREWRITEAOF: %v", err)
	}
	if v, err := admin.ConfigGet(ctx, "appendfsync").Result(); err != nil || v["appendfsync"] != "everysec" {
		t.Errorf("appendfsync %v %v, want everysec", v, err)
	}
}

func TestRedisACLRendererRefusesAMissingPassword(t *testing.T) {
	cmd := exec.Command("sh", "redis/render-acl.sh", "redis/users.acl.template", filepath.Join(t.TempDir(), "users.acl"))
	cmd.Env = append(os.Environ(), "HUSH_REDIS_PASSWORD=", "HUSH_REDIS_ADMIN_PASSWORD=x")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "HUSH_REDIS_PASSWORD") {
		t.Fatalf("render-acl.sh with no password: %v %s; want a refusal naming the variable", err, out)
	}
}

// TestRedisHushUserMayRunEveryCommandTheStoreUses reads the commands every
// Lua script of internal/core/store calls and the store's direct calls, and checks
// the hush ACL user is granted each: a new script command without an ACL
// line would fail with NOPERM in production only.
func TestRedisHushUserMayRunEveryCommandTheStoreUses(t *testing.T) {
	tmpl, err := os.ReadFile("redis/users.acl.template")
	if err != nil {
		t.Fatal(err)
	}
	var hushLine string
	for line := range strings.SplitSeq(string(tmpl), "\n") {
		if strings.HasPrefix(line, "user hush ") {
			hushLine = line
		}
	}
	granted := map[string]bool{}
	for _, f := range strings.Fields(hushLine) {
		if c, ok := strings.CutPrefix(f, "+"); ok {
			granted[strings.ToLower(c)] = true
		}
	}
	scripts, err := filepath.Glob("../internal/core/store/lua/*.lua")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no store scripts: %v", err)
	}
	call := regexp.MustCompile(`redis\.(?:p?call)\(\s*['"]([A-Za-z]+)['"]`)
	for _, f := range scripts {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			if !granted[strings.ToLower(m[1])] {
				t.Errorf("%s calls %s, which the hush ACL user may not run", filepath.Base(f), m[1])
			}
		}
	}
	goFiles, _ := filepath.Glob("../internal/core/store/*.go")
	direct := regexp.MustCompile(`s\.rdb\.([A-Z][A-Za-z]+)\(`)
	goToRedis := map[string]string{"Get": "get", "HGet": "hget", "HLen": "hlen", "HMGet": "hmget", "ZRangeByScoreWithScores": "zrangebyscore",
		"Set": "set", "Del": "del", "HGetAll": "hgetall", "ZRange": "zrange", "ZCard": "zcard", "Exists": "exists", "SMembers": "smembers"}
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range direct.FindAllStringSubmatch(string(src), -1) {
			cmd, known := goToRedis[m[1]]
			if !known {
				t.Errorf("%s calls rdb.%s: add its Redis command to this test and to the ACL", filepath.Base(f), m[1])
				continue
			}
			if !granted[cmd] {
				t.Errorf("%s calls %s, which the hush ACL user may not run", filepath.Base(f), cmd)
			}
		}
	}
	for _, always := range []string{"evalsha", "eval", "ping"} {
		if !granted[always] {
			t.Errorf("the hush ACL user lacks %s", always)
		}
	}
}
