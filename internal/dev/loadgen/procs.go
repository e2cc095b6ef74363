package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Procs runs the real gatekeeper binary as separate processes, as a
// deployment does, so that each process's own CPU time can be read.
type Procs struct {
	// Gatekeeper is the gatekeeper binary.
	Gatekeeper string
	// PolicyPath is the policy file the processes load; empty: the
	// embedded default, as in the in-process mode.
	PolicyPath string
	// FeaturesPolicyPath is the policy file of the features phase.
	FeaturesPolicyPath string
	// Dir receives each process's log.
	Dir string
	// Args are extra gatekeeper arguments (e.g. --log-level debug).
	Args []string
	// Pprof serves /debug/pprof/ on each process's ops port (loopback),
	// for the profile of the flat-out phase.
	Pprof bool
}

// gkProc is one running gatekeeper process.
type gkProc struct {
	cmd     *exec.Cmd
	log     string
	ops     string // host:port of /metrics (and /debug/pprof/ with --pprof)
	done    chan struct{}
	waitErr error
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat: 100
// on every Linux architecture Go supports (sysconf needs cgo).
const clockTicks = 100

// procCPU is the user+system CPU time of process pid, in seconds, from
// /proc/<pid>/stat (fields 14 and 15).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(stat string) (float64, error) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// freeLoopback returns a loopback address no one listens on now.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs replica n of a phase and waits until it consumes.
func (p *Procs) start(ctx context.Context, phase string, n int, cfg Config, prefix string) (*gkProc, error) {
	ops, err := freeLoopback()
	if err != nil {
		return nil, fmt.Errorf("ops port: %w", err)
	}
	args := []string{"--nats-url", cfg.NATSURL, "--redis-url", cfg.RedisURL, "--prefix", prefix,
		"--workers", strconv.Itoa(cfg.Workers), "--max-ack-pending", strconv.Itoa(cfg.MaxAckPending),
		"--stream-replicas", strconv.Itoa(max(cfg.StreamReplicas, 1)),
		"--redis-autopipeline=" + strconv.FormatBool(cfg.AutoPipeline),
		"--http-addr", ops, "--log-level", "warn"}
	if p.Pprof {
		args = append(args, "--pprof")
	}
	switch {
	case phase == "features":
		args = append(args, "--policy", p.FeaturesPolicyPath)
	case p.PolicyPath != "":
		args = append(args, "--policy", p.PolicyPath)
	}
	args = append(args, p.Args...)
	logPath := filepath.Join(p.Dir, fmt.Sprintf("gatekeeper-%s-%d.log", phase, n))
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper log: %w", err)
	}
	cmd := exec.Command(p.Gatekeeper, args...)
	// Settings from the flags only.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HUSH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", p.Gatekeeper, err)
	}
	g := &gkProc{cmd: cmd, log: logPath, ops: ops, done: make(chan struct{})}
	go func() {
		g.waitErr = cmd.Wait()
		log.Close()
		close(g.done)
	}()
	// Ready once its servers answer; its consumers start moments later,
	// inside the warm-up, and take the intents from the stream's start.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		select {
		case <-g.done:
			return nil, fmt.Errorf("gatekeeper %d exited: %v (log %s)", n, g.waitErr, logPath)
		case <-ctx.Done():
			g.kill()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.kill()
			return nil, fmt.Errorf("gatekeeper %d not ready after 60s (log %s)", n, logPath)
		}
	}
}

func (g *gkProc) cpu() float64 {
	s, err := procCPU(g.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return s
}

func (g *gkProc) kill() {
	g.cmd.Process.Kill()
	<-g.done
}

// stop drains the process with SIGTERM, as a deployment stops it.
func (g *gkProc) stop() error {
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(40 * time.Second):
		g.kill()
		return fmt.Errorf("gatekeeper not stopped 40s after SIGTERM (log %s)", g.log)
	}
	var ee *exec.ExitError
	if errors.As(g.waitErr, &ee) {
		return fmt.Errorf("gatekeeper exit: %v (log %s)", g.waitErr, g.log)
	}
	return nil
}

// profile fetches a CPU profile of secs seconds from the process's
// /debug/pprof/ into path.
func (g *gkProc) profile(ctx context.Context, secs int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.ops, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("gatekeeper profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gatekeeper profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("gatekeeper profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("gatekeeper profile: %w", err)
	}
	return f.Close()
}

// NATSD is a nats-server run as a process of its own from services/natsd
// (the server pinned in go.mod), so that its CPU is not the gatekeeper's.
type NATSD struct {
	URL  string
	proc *gkProc
}

// StartNATSD starts bin (services/natsd) on a free loopback port with its
// JetStream store in dir, fsync as sync ("always" or an interval), and
// waits until it accepts connections.
func StartNATSD(ctx context.Context, bin, dir, sync string) (*NATSD, error) {
	addr, err := freeLoopback()
	if err != nil {
		return nil, fmt.Errorf("nats port: %w", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nats dir: %w", err)
	}
	logPath := filepath.Join(dir, "natsd.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("nats log: %w", err)
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", port, "--store-dir", filepath.Join(dir, "js"), "--sync", sync)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n := &NATSD{URL: "nats://" + addr, proc: &gkProc{cmd: cmd, log: logPath, done: make(chan struct{})}}
	go func() {
		n.proc.waitErr = cmd.Wait()
		log.Close()
		close(n.proc.done)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return n, nil
		}
		select {
		case <-n.proc.done:
			return nil, fmt.Errorf("natsd exited: %v (log %s)", n.proc.waitErr, logPath)
		case <-ctx.Done():
			n.proc.kill()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.proc.kill()
			return nil, fmt.Errorf("natsd not listening after 30s (log %s)", logPath)
		}
	}
}

// CPU is the server process's CPU time so far, in seconds.
func (n *NATSD) CPU() float64 { return n.proc.cpu() }

// Stop shuts the server down.
func (n *NATSD) Stop() { n.proc.stop() }
