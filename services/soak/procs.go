package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process: a gatekeeper or the NATS server. It dies with
// the soak (Pdeathsig), so nothing is orphaned.
type proc struct {
	started time.Time
	cmd     *exec.Cmd
	done    chan struct{}
	code    int // exit code; -1 when killed by a signal
}

func startProc(bin string, args []string, logPath string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
	go func() {
		cmd.Wait()
		log.Close()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// wait returns the exit code, or false when the process is still running
// after d.
func (p *proc) wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.code, true
	case <-time.After(d):
		return 0, false
	}
}

// peakRSS is the process's high-water resident set (VmHWM), in bytes.
func (p *proc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func waitPort(ctx context.Context, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s", addr, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// slot keeps one gatekeeper process running: when it exits (killed, or
// stopped by the soak) it is started again until the slot is closed.
type slot struct {
	n    int
	bin  string
	args []string
	log  string

	// stopping serialises stops: a SIGKILL never lands on a process
	// that is draining after a SIGTERM.
	stopping sync.Mutex
	mu       sync.Mutex
	cur      *proc
	closed   bool
	starts   int
	peakRSS  int64
}

func (s *slot) run(ctx context.Context) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		p, err := startProc(s.bin, s.args, s.log)
		if err != nil {
			s.mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		s.cur = p
		s.starts++
		s.mu.Unlock()
		tick := time.NewTicker(200 * time.Millisecond)
	wait:
		for {
			select {
			case <-p.done:
				break wait
			case <-tick.C:
				s.notePeak(p)
			}
		}
		tick.Stop()
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *slot) notePeak(p *proc) {
	if rss := p.peakRSS(); rss > 0 {
		s.mu.Lock()
		s.peakRSS = max(s.peakRSS, rss)
		s.mu.Unlock()
	}
}

// stop sends sig to the running process and waits for it to exit; the slot
// restarts it unless close is set.
func (s *slot) stop(sig syscall.Signal, close bool, grace time.Duration) (int, error) {
	s.stopping.Lock()
	defer s.stopping.Unlock()
	var p *proc
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.mu.Lock()
		p = s.cur
		s.mu.Unlock()
		if p != nil && !p.exited() || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the slot is starting the next one
	}
	s.mu.Lock()
	if close {
		s.closed = true
	}
	s.mu.Unlock()
	if p == nil || p.exited() {
		return 0, errors.New("no process running")
	}
	s.notePeak(p)
	if sig == syscall.SIGTERM {
		// A SIGTERM before main has installed its handler kills any Go
		// program; what is tested is the drain of a running gatekeeper.
		time.Sleep(time.Until(p.started.Add(time.Second)))
	}
	p.signal(sig)
	code, ok := p.wait(grace)
	if !ok {
		p.signal(syscall.SIGKILL)
		p.wait(time.Minute)
		return -1, fmt.Errorf("gatekeeper %d still running %s after %s", s.n, grace, sig)
	}
	return code, nil
}
