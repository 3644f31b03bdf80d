package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/web"
)

// TestOperator_TenantsAndJobQueues: the operator (and only the operator)
// lists every tenant and reads each job queue's counts.
func TestOperator_TenantsAndJobQueues(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(opt)
	client := asynq.NewClient(opt)
	queue := strings.TrimSuffix(testenv.Prefix(), ":") + "-ops"
	t.Cleanup(func() {
		_ = in.DeleteQueue(queue, true)
		in.Close()
		client.Close()
	})
	for range 2 {
		if _, err := client.Enqueue(asynq.NewTask("test:noop", nil), asynq.Queue(queue)); err != nil {
			t.Fatal(err)
		}
	}
	ts := newServer(t, func(c *web.Config) { c.Jobs = in })
	a := ts.signup(t, "acme")
	ts.signup(t, "beta")

	// Not the operator: a tenant owner's token, or none.
	ts.call(t, "GET", "/api/v1/operator/tenants", a.Token, nil).mustStatus(t, http.StatusUnauthorized)
	ts.call(t, "GET", "/api/v1/operator/queues", "", nil).mustStatus(t, http.StatusUnauthorized)

	list := ts.call(t, "GET", "/api/v1/operator/tenants", ts.operatorToken(t), nil).mustStatus(t, http.StatusOK)
	for _, slug := range []string{`"slug":"acme"`, `"slug":"beta"`} {
		if !bytes.Contains(list.Body, []byte(slug)) {
			t.Errorf("tenant list lacks %s: %s", slug, list.Body)
		}
	}
	// Newest first: beta signed up after acme.
	if bytes.Index(list.Body, []byte(`"slug":"beta"`)) > bytes.Index(list.Body, []byte(`"slug":"acme"`)) {
		t.Errorf("tenants not newest first: %s", list.Body)
	}
	ts.call(t, "GET", "/api/v1/operator/tenants?before=yesterday", ts.operatorToken(t), nil).mustStatus(t, http.StatusBadRequest)

	qs := ts.call(t, "GET", "/api/v1/operator/queues", ts.operatorToken(t), nil).mustStatus(t, http.StatusOK)
	var found bool
	for _, q := range qs.JSON["queues"].([]any) {
		m := q.(map[string]any)
		if m["queue"] == queue {
			found = true
			if m["pending"] != float64(2) || m["archived"] != float64(0) {
				t.Errorf("queue %s: %v, want 2 pending, 0 archived", queue, m)
			}
		}
	}
	if !found {
		t.Errorf("queue %s not listed: %s", queue, qs.Body)
	}

	// The page shows the same, once the operator has logged in.
	b := newBrowserClient(t, ts.listen(t))
	_, page, csrf := b.get("/operator")
	if strings.Contains(page, `id="tenants"`) {
		t.Fatal("the operator page shows tenants before the operator logs in")
	}
	if resp, body := b.post("/operator/login", url.Values{"_csrf": {csrf}, "email": {ts.op.email}, "password": {testOperatorPassword}, "code": {ts.op.nextCode(t)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator login: %d %s", resp.StatusCode, body)
	}
	_, page, _ = b.get("/operator")
	for _, want := range []string{`data-tenant="acme"`, `data-tenant="beta"`, `data-queue="` + queue + `"><td>` + queue + `</td><td class="pending">2</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("operator page lacks %s", want)
		}
	}
}
