package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/billing/chargeback"
)

// TestIsolation_ReportsAreInvisibleToOtherTenants: tenant B (its owner or
// finance) can never see, list, download or produce tenant A's reports:
// by id, by token, with A's signed link (their token on it), or with any
// link forged from A's or B's own. Each gets a 404 that names nothing.
func TestIsolation_ReportsAreInvisibleToOtherTenants(t *testing.T) {
	ts := newServer(t).withReports(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	bFin := ts.createUser(t, b, "finance@bravo.example", "finance")
	month := lastMonth()
	ts.seedMonth(t, a, month)
	ts.seedMonth(t, b, month)
	body := map[string]any{"from": month.Format("2006-01-02"), "to": month.AddDate(0, 1, 0).Format("2006-01-02")}
	idA := ts.call(t, "POST", "/api/v1/reports/chargeback", a.Token, body).mustStatus(t, http.StatusAccepted).str("id")
	idB := ts.call(t, "POST", "/api/v1/reports/chargeback", bFin.Token, body).mustStatus(t, http.StatusAccepted).str("id")
	doneA := ts.waitReport(t, a, idA)
	doneB := ts.waitReport(t, bFin, idB)
	linkA := doneA.JSON["downloads"].(map[string]any)["csv"].(string)
	linkB := doneB.JSON["downloads"].(map[string]any)["csv"].(string)

	notFound := func(name string, ans answer) {
		t.Helper()
		if ans.Status != http.StatusNotFound || ans.errCode() == "" {
			t.Errorf("%s: %d %.200s, want 404 with an error body", name, ans.Status, ans.Body)
		}
		if bytes.Contains(ans.Body, []byte(idA)) || bytes.Contains(ans.Body, []byte("contact-")) {
			t.Errorf("%s leaks A's report: %.300s", name, ans.Body)
		}
	}
	for _, who := range []company{b, bFin} {
		notFound("GET A's report", ts.call(t, "GET", "/api/v1/reports/"+idA, who.Token, nil))
		for _, f := range chargeback.Formats {
			notFound("download A's "+f+" by token", ts.call(t, "GET", "/api/v1/reports/"+idA+"/download?format="+f, who.Token, nil))
		}
		list := ts.call(t, "GET", "/api/v1/reports", who.Token, nil).mustStatus(t, http.StatusOK)
		if bytes.Contains(list.Body, []byte(idA)) || !bytes.Contains(list.Body, []byte(idB)) {
			t.Errorf("B's list: %s", list.Body)
		}
		// A's real link with B's token on it.
		req := newRequest("GET", mustURI(t, linkA), nil)
		req.Header.Set("Authorization", "Bearer "+who.Token)
		notFound("A's link with B's token", ts.do(t, req))
	}

	// Forged links: every part of a link is covered by its signature.
	u, _ := url.Parse(linkA)
	q := u.Query()
	forge := func(name string, path string, change func(url.Values)) {
		t.Helper()
		v := url.Values{}
		for k, x := range q {
			v[k] = append([]string(nil), x...)
		}
		change(v)
		notFound(name, ts.fetch(t, "http://cic.test"+path+"?"+v.Encode(), nil))
	}
	pathA := "/api/v1/reports/" + idA + "/download"
	forge("A's link for tenant B", pathA, func(v url.Values) { v.Set("tenant", b.TenantID.String()) })
	forge("A's link for B's finance user", pathA, func(v url.Values) { v.Set("user", bFin.UserID.String()) })
	forge("A's link for another file", pathA, func(v url.Values) { v.Set("format", "pdf") })
	forge("A's link kept longer", pathA, func(v url.Values) { v.Set("expires", "4102444800") })
	forge("A's link, one digit of the signature changed", pathA, func(v url.Values) {
		s := []byte(v.Get("sig"))
		if s[0] == '0' {
			s[0] = '1'
		} else {
			s[0] = '0'
		}
		v.Set("sig", string(s))
	})
	forge("a guessed signature", pathA, func(v url.Values) { v.Set("sig", strings.Repeat("ab", 32)) })
	forge("no signature bytes", pathA, func(v url.Values) { v.Set("sig", "zz") })
	forge("A's link on B's report", "/api/v1/reports/"+idB+"/download", func(url.Values) {})
	forge("A's link on a made-up report", "/api/v1/reports/"+uuid.NewString()+"/download", func(url.Values) {})
	ub, _ := url.Parse(linkB)
	notFound("B's own link on A's report", ts.fetch(t, "http://cic.test"+pathA+"?"+ub.RawQuery, nil))
	// A link signed with another key (another deployment) is refused too.
	other := chargeback.Links{Key: []byte("another deployment")}
	notFound("A's link signed with another key",
		ts.fetch(t, "http://cic.test"+pathA+"?"+other.Sign(a.TenantID, uuid.MustParse(idA), a.UserID, "csv", time.Now()).Encode(), nil))
	// The very link still works for whoever holds it, and its expiry holds.
	if ok := ts.fetch(t, linkA, nil); ok.Status != http.StatusOK {
		t.Fatalf("A's link: %d %s", ok.Status, ok.Body)
	}
	expired := ts.Reports.Links.Sign(a.TenantID, uuid.MustParse(idA), a.UserID, "csv", time.Now().Add(-time.Hour))
	if ans := ts.fetch(t, "http://cic.test"+pathA+"?"+expired.Encode(), nil); ans.Status != http.StatusForbidden || ans.errCode() != "link_expired" {
		t.Fatalf("expired link: %d %s", ans.Status, ans.Body)
	}

	// B cannot produce a report for A: there is no tenant to name, and
	// what B asks for is B's.
	ts.call(t, "POST", "/api/v1/reports/chargeback", bFin.Token, map[string]any{"from": body["from"], "to": body["to"],
		"tenant_id": a.TenantID.String()}).mustStatus(t, http.StatusBadRequest)
	listA := ts.call(t, "GET", "/api/v1/reports", a.Token, nil).mustStatus(t, http.StatusOK)
	if rs := listA.JSON["reports"].([]any); len(rs) != 1 || bytes.Contains(listA.Body, []byte(idB)) {
		t.Fatalf("A's list: %s", listA.Body)
	}
	// A's report, files and totals are unchanged by all of it.
	after := ts.call(t, "GET", "/api/v1/reports/"+idA, a.Token, nil).mustStatus(t, http.StatusOK)
	if jsonInt(after, "totals", "cost_minor") != jsonInt(doneA, "totals", "cost_minor") || after.str("status") != "done" {
		t.Fatalf("A's report after: %s", after.Body)
	}

	// The pages: B's session gets 404 for A's report, its status and files.
	base := ts.listen(t)
	br := newBrowserClient(t, base)
	br.login("bravo", "finance@bravo.example", goodPassword)
	for _, p := range []string{"/reports/" + idA, "/reports/" + idA + "/status", "/reports/" + idA + "/download/csv"} {
		resp, page, _ := br.get(p)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "contact-") || strings.Contains(page, "Company acme") {
			t.Errorf("B's session GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, page, _ := br.get("/reports"); resp.StatusCode != http.StatusOK || strings.Contains(page, idA) || !strings.Contains(page, idB) {
		t.Errorf("B's reports page: %d", resp.StatusCode)
	}
}

func mustURI(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// TestPagesReports_FinanceAndOwnerOnly: the pages follow the API's rule,
// and the navigation shows Reports to those who may open it.
func TestPagesReports_FinanceAndOwnerOnly(t *testing.T) {
	ts := newServer(t).withReports(t)
	owner := ts.signup(t, "acme")
	for _, role := range []string{"finance", "admin", "agent"} {
		ts.createUser(t, owner, role+"@acme.example", role)
	}
	base := ts.listen(t)
	for _, tt := range []struct {
		email string
		code  int
		nav   bool
	}{
		{"owner@acme.example", http.StatusOK, true},
		{"finance@acme.example", http.StatusOK, true},
		{"admin@acme.example", http.StatusForbidden, false},
		{"agent@acme.example", http.StatusForbidden, false},
	} {
		br := newBrowserClient(t, base)
		br.login("acme", tt.email, goodPassword)
		resp, page, token := br.get("/reports")
		if resp.StatusCode != tt.code {
			t.Errorf("%s GET /reports: %d, want %d", tt.email, resp.StatusCode, tt.code)
		}
		_, dash, _ := br.get("/dashboard")
		if got := strings.Contains(dash, `href="/reports"`); got != tt.nav {
			t.Errorf("%s: Reports in the navigation %v, want %v", tt.email, got, tt.nav)
		}
		if tt.code != http.StatusOK {
			continue
		}
		// The form asks for a report and leads to its page.
		if !strings.Contains(page, `id="report-form"`) {
			t.Fatalf("no form: %s", page)
		}
		resp, errPage := br.post("/reports", url.Values{"_csrf": {token}, "period": {"range"}, "from": {"2026-03-10"}, "to": {"2026-03-01"},
			"dimension": {"queue"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(errPage, "from must be before to") {
			t.Fatalf("bad range: %d %s", resp.StatusCode, errPage)
		}
		resp, _ = br.post("/reports", url.Values{"_csrf": {token}, "period": {"month"}, "month": {lastMonth().Format("2006-01")},
			"dimension": {"channel"}})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/reports/") {
			t.Fatalf("ask: %d %s", resp.StatusCode, loc)
		}
		if resp, page, _ := br.get(loc); resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="report-status"`) {
			t.Fatalf("report page: %d", resp.StatusCode)
		}
	}
}
