package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the server's metrics as Prometheus does and parses them.
func (ts *testServer) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	ts.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, rec.Body)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// requestsByMethod sums cic_http_requests_total per method label.
func requestsByMethod(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams["cic_http_requests_total"].GetMetric() {
		out[label(m, "method")] += m.GetCounter().GetValue()
	}
	return out
}

// The attack was ordinary traffic: labels kept strings that pointed into
// fasthttp's reused buffers, so after a few requests on one connection a
// stored label read "POSTONS", two samples had the same labels, and
// /metrics answered 500. Many methods and routes on kept-alive
// connections at once; then the scrape parses and the counts add up.
func TestMetrics_CountsAddUpAfterConcurrentLoad(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	base := ts.listen(t)
	before := requestsByMethod(ts.scrape(t))

	type req struct{ method, path, body string }
	mix := []req{
		{"GET", "/healthz", ""},
		{"HEAD", "/healthz", ""},
		{"OPTIONS", "/api/v1/me", ""},
		{"POST", "/api/v1/auth/login", "{"},
		{"GET", "/api/v1/me", ""},
		{"GET", "/api/v1/users/" + a.UserID.String(), ""},
		{"PATCH", "/api/v1/departments/not-a-uuid", `{"name":"x"}`},
		{"DELETE", "/api/v1/api-keys/00000000-0000-0000-0000-000000000000", ""},
		{"PUT", "/api/v1/usage/policy", `{}`},
		{"GET", "/no/such/page/" + strings.Repeat("x", 40), ""},
		{"POST", "/api/v1/nope", "{}"},
	}
	const workers, rounds = 6, 15
	sent := map[string]float64{}
	for _, r := range mix {
		sent[r.method] += workers * rounds
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One client per worker: its connection is kept alive, so the
			// server reuses its buffers across methods and routes.
			cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer cl.CloseIdleConnections()
			for i := range rounds * len(mix) {
				r := mix[(i+w)%len(mix)]
				hr, _ := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
				if r.body != "" {
					hr.Header.Set("Content-Type", "application/json")
				}
				hr.Header.Set("Authorization", "Bearer "+a.Token)
				res, err := cl.Do(hr)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode >= 500 {
					errs <- &statusErr{r.method + " " + r.path, res.StatusCode}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	fams := ts.scrape(t)
	after := requestsByMethod(fams)
	for m, n := range sent {
		if got := after[m] - before[m]; got != n {
			t.Errorf("method %s counted %v times, sent %v", m, got, n)
		}
	}
	routes := map[string]bool{"unmatched": true}
	for _, r := range ts.App().GetRoutes() {
		routes[r.Path] = true
	}
	var total, observed uint64
	for _, m := range fams["cic_http_requests_total"].GetMetric() {
		if _, ok := sent[label(m, "method")]; !ok {
			t.Errorf("method label %q was never sent", label(m, "method"))
		}
		if !routes[label(m, "route")] {
			t.Errorf("route label %q is no route", label(m, "route"))
		}
		total += uint64(m.GetCounter().GetValue())
	}
	for _, m := range fams["cic_http_request_duration_seconds"].GetMetric() {
		observed += m.GetHistogram().GetSampleCount()
	}
	if total != observed {
		t.Errorf("%d requests counted, %d durations observed", total, observed)
	}
	var want float64
	for _, n := range sent {
		want += n
	}
	var base0 float64
	for _, n := range before {
		base0 += n
	}
	if float64(total) != base0+want {
		t.Errorf("%d requests counted, want %v", total, base0+want)
	}
}

type statusErr struct {
	what   string
	status int
}

func (e *statusErr) Error() string { return e.what + ": server error " + http.StatusText(e.status) }

// The public address has no /metrics.
func TestMetrics_NotOnThePublicAddress(t *testing.T) {
	ts := newServer(t)
	ts.call(t, "GET", "/metrics", "", nil).mustStatus(t, http.StatusNotFound)
}
