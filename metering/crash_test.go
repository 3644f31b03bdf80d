package metering_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cic-platform/cic/infra"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// Exactly-once under crashes: the metering path runs in a child process
// (this test binary again, running TestCrashChild), which the test kills
// with SIGKILL at random moments while clients keep sending batches and
// retrying each until it is acknowledged, then restarts. Afterwards every
// id sent must be metered exactly once and every bundle must match its
// records.

const (
	crashChildEnv = "CIC_CRASH_CHILD"
	crashDBEnv    = "CIC_CRASH_DATABASE_URL"
	crashPortLine = "CIC_CRASH_CHILD_PORT="
)

// crashBatch is the child's POST /meter body.
type crashBatch struct {
	Tenant   uuid.UUID                 `json:"tenant"`
	Contacts []metering.HandledContact `json:"contacts"`
}

// TestCrashChild is the child process of TestMeter_ExactlyOnceUnderCrashes:
// a Meter behind POST /meter on 127.0.0.1, answering only once Meter has
// returned (that is, once the records are durable). It prints its port on
// stdout and lives until killed, until its stdin closes (the parent is
// gone) or for two minutes at most. Run on its own, it skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("the child process of TestMeter_ExactlyOnceUnderCrashes")
	}
	ctx := context.Background()
	pool, err := infra.OpenPool(ctx, os.Getenv(crashDBEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m := metering.NewMeter(&tenant.DB{Pool: pool})
	m.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	m.Start()
	defer m.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /meter", func(w http.ResponseWriter, r *http.Request) {
		var in crashBatch
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := m.Meter(r.Context(), in.Tenant, metering.SourceAPI, in.Contacts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Printf("%s%d\n", crashPortLine, ln.Addr().(*net.TCPAddr).Port)

	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()
	select {
	case <-parentGone:
	case <-time.After(2 * time.Minute):
	}
}

// lockedBuffer collects a child's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type crashChild struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	url    string
	exited chan struct{}
}

// startCrashChild starts the child and waits (30 s at most) for its port.
func startCrashChild(dbURL string, stderr io.Writer) (*crashChild, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDBEnv+"="+dbURL)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &crashChild{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), crashPortLine); ok {
				port <- p
			}
		}
		// Wait only once stdout is drained (exec's rule for StdoutPipe).
		_ = cmd.Wait()
		close(c.exited)
	}()
	select {
	case p := <-port:
		c.url = "http://127.0.0.1:" + p + "/meter"
		return c, nil
	case <-c.exited:
		return nil, errors.New("child exited before printing its port")
	case <-time.After(30 * time.Second):
		c.kill()
		return nil, errors.New("child printed no port in 30 s")
	}
}

// kill sends SIGKILL and waits for the child to be gone.
func (c *crashChild) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
}

func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CIC_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CIC_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay the kill schedule with CIC_CRASH_SEED=%d)", seed, seed)
	return seed
}

func TestMeter_ExactlyOnceUnderCrashes(t *testing.T) {
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t)
	c := ctx(t)

	const (
		nTenants = 3
		senders  = 8
	)
	// Each tenant: the 250-contact trial, a 400-contact bundle and a
	// 300-contact one that expires during the run; far fewer than the ids
	// sent, so overage happens too.
	now := time.Now()
	tenants := make([]uuid.UUID, nTenants)
	for i := range tenants {
		tenants[i] = e.newTenant(t, fmt.Sprintf("crash-%d", i))
		e.addBundle(t, tenants[i], 400, 4000, now.Add(-time.Hour), now.Add(24*time.Hour))
		e.addBundle(t, tenants[i], 300, 3000, now.Add(-time.Hour), now.Add(time.Duration(4000+rng.IntN(6000))*time.Millisecond))
	}

	stderr := &lockedBuffer{}
	var (
		childMu sync.Mutex
		child   *crashChild
		url     atomic.Pointer[string]
	)
	restart := func() error {
		ch, err := startCrashChild(e.DB.AppURL, stderr)
		if err != nil {
			return err
		}
		childMu.Lock()
		child = ch
		childMu.Unlock()
		url.Store(&ch.url)
		return nil
	}
	t.Cleanup(func() {
		childMu.Lock()
		defer childMu.Unlock()
		if child != nil {
			child.kill()
		}
		if t.Failed() {
			t.Logf("children's stderr:\n%s", stderr.String())
		}
	})
	if err := restart(); err != nil {
		t.Fatal(err)
	}

	// Senders: batches of new and repeated ids, each retried until an
	// answer says what became of every item.
	type key struct {
		tenant uuid.UUID
		id     string
	}
	var (
		mu        sync.Mutex
		sent      = map[key]bool{}
		accepted  = map[key]int{}
		batches   int
		attempts  int
		next      = make([]atomic.Int64, nTenants)
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		giveUpAt  = time.Now().Add(90 * time.Second)
		transport = &http.Transport{}
		client    = &http.Client{Timeout: 10 * time.Second, Transport: transport}
	)
	defer transport.CloseIdleConnections()
	send := func(b crashBatch) (metering.Result, error) {
		var res metering.Result
		body, _ := json.Marshal(b)
		resp, err := client.Post(*url.Load(), "application/json", bytes.NewReader(body))
		if err != nil {
			return res, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			return res, fmt.Errorf("%s: %s", resp.Status, msg)
		}
		return res, json.NewDecoder(resp.Body).Decode(&res)
	}
	for s := range senders {
		srng := rand.New(rand.NewPCG(seed, uint64(s)+100))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ti := srng.IntN(nTenants)
				n := 1 + srng.IntN(50)
				b := crashBatch{Tenant: tenants[ti], Contacts: make([]metering.HandledContact, n)}
				for k := range b.Contacts {
					j := next[ti].Load()
					if srng.IntN(2) == 0 {
						j = next[ti].Add(1)
					} else {
						j = srng.Int64N(j + 1)
					}
					b.Contacts[k] = metering.HandledContact{ID: "k-" + strconv.FormatInt(j, 10), Channel: "voice",
						HandledAt: time.Now().Add(-time.Minute), Queue: "q" + strconv.Itoa(srng.IntN(3))}
				}
				mu.Lock()
				for _, ct := range b.Contacts {
					sent[key{b.Tenant, ct.ID}] = true
				}
				mu.Unlock()
				for try := 0; ; try++ {
					if time.Now().After(giveUpAt) {
						t.Errorf("batch not acknowledged after %d tries", try)
						return
					}
					res, err := send(b)
					mu.Lock()
					attempts++
					mu.Unlock()
					if err != nil {
						time.Sleep(time.Duration(10+srng.IntN(40)) * time.Millisecond)
						continue
					}
					if len(res.Errors) != 0 || len(res.Accepted)+len(res.Duplicates) != len(b.Contacts) {
						t.Errorf("batch of %d: %d accepted, %d duplicates, errors %v", len(b.Contacts), len(res.Accepted), len(res.Duplicates), res.Errors)
						return
					}
					mu.Lock()
					batches++
					for _, id := range res.Accepted {
						accepted[key{b.Tenant, id}]++
					}
					mu.Unlock()
					break
				}
			}
		}()
	}

	// The killer: 8 to 15 SIGKILLs, 0.4 to 1.8 s apart.
	kills := 8 + rng.IntN(8)
	for k := 0; k < kills && !t.Failed(); k++ {
		time.Sleep(time.Duration(400+rng.IntN(1400)) * time.Millisecond)
		childMu.Lock()
		child.kill()
		childMu.Unlock()
		// Sometimes the restart waits a little, so clients see refused
		// connections as well as cut ones.
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		if err := restart(); err != nil {
			t.Errorf("restart %d: %v", k+1, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every id sent is metered exactly once: no id lost (all batches were
	// acknowledged), none twice, nothing that was never sent.
	rows, err := e.DB.Owner.Query(c, `SELECT tenant_id, contact_id, count(*) FROM meter_records GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type counted struct {
		k key
		n int
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (counted, error) {
		var x counted
		return x, r.Scan(&x.k.tenant, &x.k.id, &x.n)
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FROM meter_records`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != len(sent) || len(recs) != len(sent) {
		t.Errorf("%d records, %d distinct ids metered, %d distinct ids sent", total, len(recs), len(sent))
	}
	lostAcks := 0
	for _, r := range recs {
		if r.n != 1 {
			t.Errorf("%s/%s metered %d times", r.k.tenant, r.k.id, r.n)
		}
		if !sent[r.k] {
			t.Errorf("%s/%s metered but never sent", r.k.tenant, r.k.id)
		}
		switch accepted[r.k] {
		case 0:
			lostAcks++ // committed, but the answer died with the child
		case 1:
		default:
			t.Errorf("%s/%s accepted %d times", r.k.tenant, r.k.id, accepted[r.k])
		}
	}
	var overage int
	if err := e.DB.Owner.QueryRow(c, `SELECT count(*) FROM meter_records WHERE bundle_id IS NULL`).Scan(&overage); err != nil {
		t.Fatal(err)
	}
	if overage == 0 {
		t.Errorf("no overage: the bundles were meant to run out")
	}
	t.Logf("%d kills; %d batches acknowledged after %d attempts; %d distinct ids over %d tenants, %d overage; %d ids committed whose answer was lost to a kill",
		kills, batches, attempts, len(sent), nTenants, overage, lostAcks)
	e.checkInvariants(t)
}
