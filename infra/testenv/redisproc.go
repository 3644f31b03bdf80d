package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisProcess is a throwaway redis-server of one test's own, for tests
// that restart or flush Redis, which they may not do to the shared one.
type RedisProcess struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server on a free loopback port. It
// keeps nothing on disk: a restart comes back empty, as a crashed cache
// node would.
func StartRedis(t testing.TB) *RedisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		t.Fatalf("testenv: redis-server not found (make test installs it): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &RedisProcess{t: t, bin: bin, dir: t.TempDir(), Port: port}
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// URL is the redis:// address of the process.
func (p *RedisProcess) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(p.Port) + "/0" }

// Client connects to the process with short timeouts, so a test notices
// an outage quickly.
func (p *RedisProcess) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.Port),
		DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolSize: 64, MaxRetries: -1})
	p.t.Cleanup(func() { c.Close() })
	return c
}

// Start (re)starts the server and waits until it answers.
func (p *RedisProcess) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, "--port", strconv.Itoa(p.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", p.dir, "--logfile", filepath.Join(p.dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: start redis-server: %v", err)
	}
	p.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.Port), DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("testenv: redis-server on port %d did not answer: %v", p.Port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), losing everything it held.
func (p *RedisProcess) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Restart kills the server and starts it again, empty.
func (p *RedisProcess) Restart() {
	p.Kill()
	p.Start()
}

func (p *RedisProcess) String() string { return fmt.Sprintf("redis-server :%d", p.Port) }
