package web_test

import (
	"bytes"
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/billing/chargeback"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/fax"
	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/channels/sms"
	"github.com/cic-platform/cic/channels/social"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/web"
)

// FuzzEveryRoute walks every route the server registers (whatever was
// added since: nothing here names a route) with hostile input, signed in
// as a tenant owner so the handlers really run: JSON bodies shaped like
// the type the route decodes (learnt through web.OnDecode) with NUL,
// broken UTF-8, huge numbers, long strings and deep nesting in them;
// hostile query values for every query name the package reads; forms
// for the pages with every form field name the package reads. Whatever
// arrives, the answer is never a 5xx. The seed corpus (every route times
// every kind of hostility) runs as a normal test; go test -fuzz explores.
func FuzzEveryRoute(f *testing.F) {
	fz := newRouteFuzzer(f)
	for kind := range fuzzKinds {
		for i := range fz.routes {
			f.Add(uint16(i), uint8(kind), fuzzSeedStrings[(i+kind)%len(fuzzSeedStrings)])
		}
	}
	f.Fuzz(func(t *testing.T, route uint16, kind uint8, s string) {
		fz.run(t, fz.routes[int(route)%len(fz.routes)], int(kind)%fuzzKinds, s)
	})
}

const fuzzKinds = 4

var fuzzSeedStrings = []string{
	"\x00", "a\x00b", "\xff\xfe\xfd", "\xc3", strings.Repeat("é", 3000), "'; DROP TABLE users; --",
	"\u202e\u2066", "-1", "2147483648", "99999999999999999999999999", "%00%ff", "../../etc/passwd", "",
	"<script>alert(1)</script>", "\xed\xa0\x80", "1e400", "{{.}}", strings.Repeat("x", 20000),
}

var fuzzNumbers = []string{"2147483648", "-2147483649", "9223372036854775807", "-9223372036854775808", "1e308", "-1", "0", "4294967296"}

type fuzzRoute struct {
	method, path string
	auth         string // the Authorization that does not get a 401
	ids          []string
}

type routeFuzzer struct {
	ts      *testServer
	base    string
	client  *http.Client
	routes  []fuzzRoute
	owner   company
	apiKey  string
	lease   string
	csrf    string
	pool    []string // ids of the owner's things, for :id
	queries []string // query names the package reads
	fields  []string // form field names the package reads

	mu    sync.Mutex
	types map[string]reflect.Type // "METHOD path" -> decoded type
}

// newFullServer is the test server with every optional part on (voice,
// messaging, reports), so no route is switched off.
func newFullServer(t testing.TB) *testServer {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return newServer(t, func(cfg *web.Config) {
		db := cfg.Tenants.DB
		dir, conv, reg := &directory.Directory{DB: db}, &conversation.Store{DB: db}, &channels.Registry{}
		cfg.Customers, cfg.Conversations, cfg.Directory, cfg.Channels = &customer.Service{DB: db}, conv, dir, reg
		flow := &messaging.Flow{DB: db, Contacts: cfg.Contacts, Customers: cfg.Customers, Conversations: conv, Directory: dir, Log: quiet}
		cfg.SMS, cfg.Social, cfg.Fax = &sms.Service{Flow: flow, PublicURL: cfg.PublicURL}, &social.Service{Flow: flow}, &fax.Service{Flow: flow}
		reg.Register(cfg.SMS)
		reg.Register(cfg.Social)
		reg.Register(cfg.Fax)
		cfg.Voice = voice.New(db, cfg.Contacts, dir, cfg.PublicURL, quiet)
		opt, err := asynq.ParseRedisURI(testenv.RedisURL())
		if err != nil {
			t.Fatal(err)
		}
		jobs := asynq.NewClient(opt)
		t.Cleanup(func() { jobs.Close() })
		// Report jobs are queued and never run: no worker reads this queue.
		cfg.Reports = &chargeback.Service{DB: db, Jobs: jobs, Queue: strings.TrimSuffix(testenv.Prefix(), ":") + "-fuzz", PublicURL: cfg.PublicURL, Logger: quiet}
		cfg.Logger = quiet
	})
}

func newRouteFuzzer(f *testing.F) *routeFuzzer {
	ts := newFullServer(f)
	fz := &routeFuzzer{ts: ts, types: map[string]reflect.Type{}, client: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	// A real loopback listener: app.Test cannot hold a stream (SSE) open.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ln) }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ts.Shutdown(ctx)
		<-done
	})
	fz.base = "http://" + ln.Addr().String()
	f.Cleanup(fz.client.CloseIdleConnections)
	web.OnDecode(func(method, route string, t reflect.Type) {
		fz.mu.Lock()
		defer fz.mu.Unlock()
		fz.types[method+" "+route] = t
	})
	f.Cleanup(func() { web.OnDecode(nil) })

	// The owner's company with one of most things, whose ids fill :id.
	fz.owner = ts.signup(f, "fuzz")
	tok := fz.owner.Token
	fz.apiKey, _ = ts.apiKey(f, fz.owner, "fuzz")
	agent := ts.createUser(f, fz.owner, "agent@fuzz.example", "agent")
	queue := ts.call(f, "POST", "/api/v1/queues", tok, map[string]any{"name": "Q", "channels": []string{"chat", "voice", "sms", "email"}}).
		mustStatus(f, http.StatusCreated).str("id")
	skill := ts.call(f, "POST", "/api/v1/skills", tok, map[string]any{"name": "s"}).mustStatus(f, http.StatusCreated).str("id")
	dept := ts.call(f, "POST", "/api/v1/departments", tok, map[string]any{"name": "D"}).mustStatus(f, http.StatusCreated).str("id")
	contact := ts.call(f, "POST", "/api/v1/contacts", fz.apiKey, map[string]any{"queue_id": queue, "channel": "chat", "customer_ref": "v"}).
		mustStatus(f, http.StatusCreated).str("id")
	cust, err := (&customer.Service{DB: ts.Tenants.DB}).Resolve(testenv.Context(f), fz.owner.TenantID, customer.KindEmail, "jane@example.com", "Jane")
	if err != nil {
		f.Fatal(err)
	}
	ts.call(f, "PUT", "/api/v1/dispositions/solved", tok, map[string]any{"label": "Solved"}).mustStatus(f, http.StatusOK)
	fz.lease = ts.call(f, "POST", "/api/v1/seats/lease", tok, map[string]any{"workstation": "fuzz"}).mustStatus(f, http.StatusCreated).str("lease_id")
	fz.pool = []string{contact, queue, cust.String(), fz.owner.UserID.String(), agent.UserID.String(), skill, dept, fz.lease, "solved", "fuzz"}
	// Ids of whatever else creating a thing through the list routes
	// answers with are added by discovery below.
	fz.queries, fz.fields = namesReadBy(f)
	fz.refreshCSRF(f)

	seen := map[string]bool{}
	for _, r := range ts.App().GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "CONNECT" || r.Method == "TRACE" || seen[r.Method+" "+r.Path] {
			continue
		}
		seen[r.Method+" "+r.Path] = true
		fz.routes = append(fz.routes, fuzzRoute{method: r.Method, path: r.Path})
	}
	// Destructive methods last, so the seeds of the others find their ids.
	sort.SliceStable(fz.routes, func(i, j int) bool {
		return (fz.routes[i].method == "DELETE") != (fz.routes[j].method == "DELETE") && fz.routes[j].method == "DELETE"
	})
	if len(fz.routes) < 100 {
		f.Fatalf("only %d routes: the walk is not seeing the server's routes", len(fz.routes))
	}
	// Discovery, with harmless input: which Authorization gets past a
	// route's guard, which :id of the pool names something there (GET
	// only: nothing is changed), and which type its body decodes into.
	getIDs := map[string][]string{}
	for i := range fz.routes {
		r := &fz.routes[i]
		if r.method == "GET" && strings.Contains(r.path, ":") {
			r.ids = fz.findIDs(f, r.path)
			getIDs[r.path] = r.ids
		}
	}
	for i := range fz.routes {
		r := &fz.routes[i]
		if r.ids == nil {
			r.ids = idsFor(r.path, getIDs, fz.pool)
		}
		r.auth = "Bearer " + tok
		for _, auth := range []string{"Bearer " + tok, "Bearer " + fz.apiKey, "Bearer " + ts.operatorToken(f)} {
			if r.method == "DELETE" {
				break // never probe a delete with a working body
			}
			st := fz.send(f, r, auth, fz.fill(r, 0, "x"), "application/json", []byte("{}")).Status
			if st != http.StatusUnauthorized {
				r.auth = auth
				break
			}
		}
	}
	return fz
}

// namesReadBy harvests the query and form field names the package's
// handlers read, from its source.
func namesReadBy(t testing.TB) (queries, fields []string) {
	files, _ := filepath.Glob("*.go")
	q := regexp.MustCompile(`\.Query\("([A-Za-z0-9_]+)"`)
	fv := regexp.MustCompile(`\.FormValue\("([A-Za-z0-9_]+)"`)
	qs, fs := map[string]bool{"limit": true, "cursor": true, "after": true, "q": true}, map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range q.FindAllSubmatch(src, -1) {
			qs[string(m[1])] = true
		}
		for _, m := range fv.FindAllSubmatch(src, -1) {
			fs[string(m[1])] = true
		}
	}
	for k := range qs {
		queries = append(queries, k)
	}
	for k := range fs {
		fields = append(fields, k)
	}
	sort.Strings(queries)
	sort.Strings(fields)
	return queries, fields
}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// refreshCSRF takes a CSRF token from a signed-in page.
func (fz *routeFuzzer) refreshCSRF(t testing.TB) {
	req, _ := http.NewRequest("GET", fz.base+"/dashboard", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Cookie", "cic_access="+fz.owner.Token)
	resp, err := fz.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfInput.FindSubmatch(raw); m != nil {
		fz.csrf = string(m[1])
	}
}

// keepSignedIn signs the owner in again when an earlier input (a logout,
// a password change) ended the session, so later inputs still get past
// the guards.
func (fz *routeFuzzer) keepSignedIn(t *testing.T) {
	if fz.ts.call(t, "GET", "/api/v1/me", fz.owner.Token, nil).Status == http.StatusOK {
		return
	}
	l := fz.ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": "fuzz", "email": "owner@fuzz.example", "password": goodPassword})
	if l.Status != http.StatusOK {
		return // the password was changed: later inputs are refused, which is fine
	}
	old := "Bearer " + fz.owner.Token
	fz.owner.Token = l.str("access_token")
	for i := range fz.routes {
		if fz.routes[i].auth == old {
			fz.routes[i].auth = "Bearer " + fz.owner.Token
		}
	}
	fz.refreshCSRF(t)
}

// findIDs picks, per path parameter, the first id of the pool that the
// GET route does not answer 404 (or the pool's first).
func (fz *routeFuzzer) findIDs(t testing.TB, path string) []string {
	n := strings.Count(path, ":")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fz.pool[0]
	}
	for p := 0; p < n; p++ {
		for _, id := range fz.pool {
			ids[p] = id
			r := &fuzzRoute{method: "GET", path: path, ids: ids}
			if fz.send(t, r, "Bearer "+fz.owner.Token, fz.fill(r, 0, ""), "", nil).Status != http.StatusNotFound {
				break
			}
		}
	}
	return append([]string(nil), ids...)
}

// idsFor borrows the ids of the GET route that is the longest prefix.
func idsFor(path string, got map[string][]string, pool []string) []string {
	best := ""
	for p := range got {
		if strings.HasPrefix(path+"/", p+"/") && len(p) > len(best) {
			best = p
		}
	}
	n := strings.Count(path, ":")
	ids := append([]string(nil), got[best]...)
	for i := len(ids); i < n; i++ {
		ids = append(ids, pool[i%len(pool)])
	}
	return ids[:n]
}

// fill puts the route's parameters in: the discovered ids, or (kind 3)
// the hostile string.
func (fz *routeFuzzer) fill(r *fuzzRoute, kind int, s string) string {
	segs := strings.Split(r.path, "/")
	p := 0
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") || seg == "*" || strings.HasPrefix(seg, "*") {
			v := ""
			if p < len(r.ids) {
				v = r.ids[p]
			}
			if kind == 3 || v == "" {
				v = s
			}
			segs[i] = url.PathEscape(v)
			p++
		}
	}
	return strings.Join(segs, "/")
}

// send makes one request: the route's auth, the owner's session cookie,
// CSRF token and seat lease, and body.
func (fz *routeFuzzer) send(t testing.TB, r *fuzzRoute, auth, target, ct string, body []byte) answer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(r.method, fz.base+target, rd)
	if err != nil {
		t.Fatalf("%s %.200s: %v", r.method, target, err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Cookie", "cic_access="+fz.owner.Token+"; cic_csrf="+fz.csrf)
	req.Header.Set("X-CSRF-Token", fz.csrf)
	req.Header.Set("X-Seat-Lease", fz.lease)
	resp, err := fz.client.Do(req)
	if err != nil {
		t.Fatalf("%s %.200s: %.300v", r.method, target, err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// A stream the handler opened: accepted; not read to its end.
		return answer{Status: resp.StatusCode, Header: resp.Header}
	}
	raw, _ := io.ReadAll(resp.Body)
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func (fz *routeFuzzer) run(t *testing.T, r fuzzRoute, kind int, s string) {
	fz.keepSignedIn(t)
	// The request line stays within fasthttp's 4 KiB header buffer (a
	// longer one is refused before any handler): long strings go into
	// bodies, path and query get a short cut of them.
	short := s
	if len(short) > 64 {
		short = short[:64]
	}
	target := fz.fill(&r, kind, short)
	// Every query name at once: each value short enough for the 4 KiB.
	qs := short
	if len(qs) > 8 {
		qs = qs[:8]
	}
	q := url.Values{}
	for i, name := range fz.queries {
		switch kind {
		case 0:
			q.Set(name, qs)
		case 1:
			q.Set(name, "2147483648") // one past PostgreSQL's integer
		case 2:
			if i%2 == 0 {
				q.Set(name, qs)
			} else {
				q.Set(name, fuzzNumbers[i%len(fuzzNumbers)])
			}
		default:
			q.Set(name, fuzzNumbers[(i+len(s))%len(fuzzNumbers)])
		}
	}
	target += "?" + q.Encode()

	fz.mu.Lock()
	typ := fz.types[r.method+" "+r.path]
	fz.mu.Unlock()
	var body []byte
	ct := "application/json"
	switch {
	case r.method == "GET" || r.method == "DELETE":
		if kind == 2 {
			body = []byte(jsonOf(typ, kind, s, fz.pool))
		}
	case !strings.HasPrefix(r.path, "/api/") && !strings.HasPrefix(r.path, "/chat/v1") && kind != 1:
		// A page's form: every field name the package reads, the JSON
		// its scripts post, and the CSRF token.
		form := url.Values{"_csrf": {fz.csrf}}
		for i, name := range fz.fields {
			if i%2 == kind%2 {
				form.Set(name, s)
			} else {
				form.Set(name, fuzzNumbers[i%len(fuzzNumbers)])
			}
		}
		if typ != nil {
			form.Set("json", jsonOf(typ, kind, s, fz.pool))
		}
		body, ct = []byte(form.Encode()), "application/x-www-form-urlencoded"
	default:
		body = []byte(jsonOf(typ, kind, s, fz.pool))
	}
	if len(body) > 256<<10 {
		// Past every body limit fasthttp drops the connection before any
		// handler (limitBody's 413 is tested elsewhere): a smaller shape.
		body = []byte(jsonOf(typ, 1, short, fz.pool))
		ct = "application/json"
	}
	a := fz.send(t, &r, r.auth, target, ct, body)
	if os.Getenv("FUZZ_DEBUG") != "" {
		fmt.Fprintf(os.Stderr, "FUZZ %d %s %s %.120s\n", a.Status, r.method, r.path, a.Body)
	}
	if a.Status >= 500 && a.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s %s (kind %d, %.80q) answered %d: %.500s\nbody: %.300q", r.method, r.path, kind, s, a.Status, a.Body, body)
	}
	if a.Status == http.StatusServiceUnavailable && !bytes.Contains(a.Body, []byte(`"code"`)) {
		t.Fatalf("%s %s answered 503 without an error body: %.300s", r.method, r.path, a.Body)
	}
}

// jsonOf writes a hostile JSON value shaped like t (nil: an object of
// common names). Strings are written raw, so NUL and broken UTF-8 reach
// the server as sent. kind 0: NUL and friends; 1: s and huge numbers; 2:
// long lists, deep nesting, long strings.
func jsonOf(t reflect.Type, kind int, s string, pool []string) string {
	var b strings.Builder
	g := &jsonGen{b: &b, kind: kind, s: s, pool: pool}
	if t == nil {
		g.b.WriteString(`{"name":`)
		g.str(s)
		g.b.WriteString(`,"id":`)
		g.str(pool[0])
		g.b.WriteString(`,"n":` + fuzzNumbers[kind])
		g.b.WriteString(`}`)
		return b.String()
	}
	g.value(t, 0)
	return b.String()
}

type jsonGen struct {
	b    *strings.Builder
	kind int
	s    string
	pool []string
	n    int
}

var (
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	timeType        = reflect.TypeOf(time.Time{})
	uuidType        = reflect.TypeOf(uuid.UUID{})
)

func (g *jsonGen) str(s string) {
	g.b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			g.b.WriteByte('\\')
			g.b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(g.b, `\u%04x`, c)
		default:
			g.b.WriteByte(c) // bytes >= 0x80 raw, broken UTF-8 included
		}
	}
	g.b.WriteByte('"')
}

func (g *jsonGen) hostile() string {
	g.n++
	switch g.kind {
	case 0:
		return []string{"\x00", "x\x00", g.s}[g.n%3]
	case 1:
		return g.s
	default:
		return strings.Repeat(g.s+"ß", 1+min(2000/(len(g.s)+2), 500))
	}
}

func (g *jsonGen) value(t reflect.Type, depth int) {
	g.n++
	if depth > 12 {
		g.b.WriteString("null")
		return
	}
	switch {
	case t == timeType:
		g.str([]string{"9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", g.s}[g.n%4])
		return
	case t == uuidType:
		if g.n%3 == 0 {
			g.str(uuid.NewString())
		} else {
			g.str(g.pool[g.n%len(g.pool)])
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		g.value(t.Elem(), depth)
		return
	}
	if t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && t.Kind() != reflect.Map && reflect.PointerTo(t).Implements(textUnmarshaler) {
		g.str(g.hostile())
		return
	}
	switch t.Kind() {
	case reflect.String:
		switch {
		case g.n%4 == 0:
			g.str(g.pool[g.n%len(g.pool)])
		case g.n%4 == 1 && g.kind == 1:
			g.str(uuid.NewString()) // an id of nothing (or of another company's thing)
		default:
			g.str(g.hostile())
		}
	case reflect.Bool:
		g.b.WriteString("true")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if g.kind == 0 {
			g.b.WriteString([]string{"2147483648", "-2147483649", "9223372036854775807", "-1"}[g.n%4])
		} else {
			g.b.WriteString(fuzzNumbers[(g.n+len(g.s))%len(fuzzNumbers)])
		}
	case reflect.Float32, reflect.Float64:
		g.b.WriteString([]string{"1e308", "-1e308", "5e-324", "123456789012345678901234567890"}[g.n%4])
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if t.Kind() == reflect.Slice && t.Name() == "RawMessage" {
				g.deep(depth)
			} else {
				g.str("AAAA" + g.s)
			}
			return
		}
		n := 2
		if g.kind == 2 && depth < 2 {
			n = 300
		}
		g.b.WriteByte('[')
		for i := range n {
			if i > 0 {
				g.b.WriteByte(',')
			}
			g.value(t.Elem(), depth+1)
		}
		g.b.WriteByte(']')
	case reflect.Map:
		g.b.WriteByte('{')
		keys := []string{g.hostile(), "1", "9", "#"}
		for i, k := range keys {
			if i > 0 {
				g.b.WriteByte(',')
			}
			g.str(k + strconv.Itoa(i*int(g.kind&1)))
			g.b.WriteByte(':')
			g.value(t.Elem(), depth+1)
		}
		g.b.WriteByte('}')
	case reflect.Struct:
		g.b.WriteByte('{')
		first := true
		for i := range t.NumField() {
			fd := t.Field(i)
			name, _, _ := strings.Cut(fd.Tag.Get("json"), ",")
			if !fd.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = fd.Name
			}
			if !first {
				g.b.WriteByte(',')
			}
			first = false
			g.str(name)
			g.b.WriteByte(':')
			g.value(fd.Type, depth+1)
		}
		g.b.WriteByte('}')
	case reflect.Interface:
		g.deep(depth)
	default:
		g.b.WriteString("null")
	}
}

// deep is an arbitrary JSON value: deeply nested for kind 2.
func (g *jsonGen) deep(depth int) {
	n := 3
	if g.kind == 2 {
		n = 400
	}
	for range n {
		g.b.WriteString(`{"a":[`)
	}
	g.str(g.hostile())
	for range n {
		g.b.WriteString(`]}`)
	}
}
