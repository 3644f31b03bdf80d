package web_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/contacts/contactstest"
	"github.com/cic-platform/cic/routing/setup"
)

// kpiCompany is a contactstest company whose owner also has an API token.
type kpiCompany struct {
	contactstest.Company
	api   company
	sales setup.Queue
}

// newKPICompany signs up slug through contactstest (queue Support, one
// agent taking two chats) and adds the queue Sales (90 % in 30 s).
func (ts *testServer) newKPICompany(t *testing.T, slug string) kpiCompany {
	t.Helper()
	ctx := t.Context()
	co := kpiCompany{Company: contactstest.New(t, ctx, ts.Tenants, ts.Setup, ts.Contacts, slug, 1, 2)}
	name, pct, secs := "Sales", 90, 30
	var err error
	if co.sales, err = ts.Setup.CreateQueue(ctx, co.Owner.Actor, setup.QueueInput{Name: &name, Channels: []string{"chat"}, SLPercent: &pct, SLSeconds: &secs}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Setup.SetDisposition(ctx, co.Owner.Actor, setup.Disposition{Code: "solved", Label: "Solved", Resolved: true}); err != nil {
		t.Fatal(err)
	}
	login := ts.call(t, "POST", "/api/v1/auth/login", "", map[string]any{"tenant": slug, "email": "owner@" + slug + ".example", "password": contactstest.Password}).mustStatus(t, http.StatusOK)
	co.api = company{TenantID: co.Owner.TenantID, Slug: slug, UserID: co.Owner.UserID, Token: login.str("access_token")}
	return co
}

// seedContact runs a chat through queue: "handled" (accept, wrap-up,
// close), "closed" (accept, close without wrap-up) or "abandoned"; then
// moves its times daysAgo days back and makes its wait wait long.
func (ts *testServer) seedContact(t *testing.T, co kpiCompany, queue uuid.UUID, end string, daysAgo int, wait time.Duration) {
	t.Helper()
	ctx := t.Context()
	agent := co.Agents[0]
	c, err := ts.Contacts.Open(ctx, co.Owner.TenantID, contacts.OpenInput{QueueID: queue, Channel: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	switch end {
	case "abandoned":
		err = ts.Contacts.Abandon(ctx, co.Owner.TenantID, c.ID)
	default:
		if _, err = ts.Contacts.Accept(ctx, agent, c.ID); err != nil {
			break
		}
		if end == "handled" {
			if err = ts.Contacts.WrapUp(ctx, agent, c.ID, "solved"); err != nil {
				break
			}
		}
		err = ts.Contacts.Close(ctx, agent, c.ID)
	}
	if err != nil {
		t.Fatalf("%s contact: %v", end, err)
	}
	if _, err := ts.DB.Owner.Exec(ctx, `UPDATE contacts SET created_at = created_at - $3::interval - $4::interval,
			queued_at = queued_at - $3::interval - $4::interval, accepted_at = accepted_at - $3::interval,
			wrap_up_at = wrap_up_at - $3::interval, closed_at = closed_at - $3::interval
		WHERE tenant_id = $1 AND id = $2`, co.Owner.TenantID, c.ID, fmt.Sprintf("%d days", daysAgo), wait.String()); err != nil {
		t.Fatal(err)
	}
}

var kpiRowRE = regexp.MustCompile(`(?s)<tr data-day="([0-9-]+)" data-queue-id="([0-9a-f-]+)">(.*?)</tr>`)
var kpiCellRE = regexp.MustCompile(`<td data-k="([a-z_]+)">([^<]*)</td>`)

// kpiPageRows are the page's KPI rows: "day queue" -> cell -> text.
func kpiPageRows(body string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range kpiRowRE.FindAllStringSubmatch(body, -1) {
		cells := map[string]string{}
		for _, c := range kpiCellRE.FindAllStringSubmatch(m[3], -1) {
			cells[c[1]] = c[2]
		}
		out[m[1]+" "+m[2]] = cells
	}
	return out
}

// kpiText is how the page shows one number of the API's KPI row.
func kpiText(row map[string]any, key string) string {
	v, ok := row[key].(float64)
	switch {
	case !ok:
		return "–"
	case strings.HasSuffix(key, "_percent"):
		return fmt.Sprintf("%.1f %%", v)
	case strings.HasSuffix(key, "_seconds"):
		return fmt.Sprintf("%.1f s", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// assertPageMatchesAPI checks that the page at query shows the API's KPI
// rows for the same query, number for number, and no others.
func assertPageMatchesAPI(t *testing.T, ts *testServer, b *browserClient, token, query string) (page string, rows []any) {
	t.Helper()
	resp, page, _ := b.get("/kpis?" + query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /kpis?%s: %d", query, resp.StatusCode)
	}
	api := ts.call(t, "GET", "/api/v1/kpis?"+query, token, nil).mustStatus(t, http.StatusOK)
	rows = api.JSON["kpis"].([]any)
	shown := kpiPageRows(page)
	if len(shown) != len(rows) {
		t.Errorf("%s: the page shows %d rows, the API %d", query, len(shown), len(rows))
	}
	for _, r := range rows {
		row := r.(map[string]any)
		cells := shown[row["day"].(string)+" "+row["queue_id"].(string)]
		for _, k := range []string{"offered", "accepted", "handled", "abandoned", "service_level_percent", "asa_seconds", "aht_seconds", "abandon_rate_percent"} {
			if want := kpiText(row, k); cells[k] != want {
				t.Errorf("%s: %s %s %s shows %q, the API %q", query, row["day"], row["queue"], k, cells[k], want)
			}
		}
	}
	return page, rows
}

func TestKPIPage_PerDayNumbersAndChartsMatchTheAPI(t *testing.T) {
	ts := newServer(t)
	co := ts.newKPICompany(t, "acme")
	support, sales := co.Queue.ID, co.sales.ID
	ts.seedContact(t, co, support, "handled", 0, 5*time.Second)
	ts.seedContact(t, co, support, "abandoned", 0, 0)
	ts.seedContact(t, co, support, "handled", 3, 25*time.Second) // over Support's 20 s
	ts.seedContact(t, co, sales, "closed", 0, 45*time.Second)    // over Sales's 30 s
	ts.seedContact(t, co, sales, "handled", 13, 0)               // the first day of the default 14
	ts.seedContact(t, co, support, "handled", 20, 0)             // before them
	b := newBrowserClient(t, ts.listen(t))
	b.login("acme", "owner@acme.example", contactstest.Password)

	today := time.Now().UTC()
	day := func(ago int) string { return today.AddDate(0, 0, -ago).Format(time.DateOnly) }
	page, rows := assertPageMatchesAPI(t, ts, b, co.api.Token, "from="+day(13)+"&to="+day(0))
	if len(rows) != 4 {
		t.Fatalf("%d KPI rows over the last 14 days, want 4", len(rows))
	}
	if _, def, _ := b.get("/kpis"); !strings.Contains(def, `name="from" value="`+day(13)+`"`) ||
		!strings.Contains(def, `name="to" value="`+day(0)+`"`) || len(kpiPageRows(def)) != 4 {
		t.Error("the page without a period should show the last 14 days")
	}
	if n := strings.Count(page, `class="empty"><th scope="row">`); n != 11 {
		t.Errorf("%d days without contacts shown, want 11", n)
	}
	for _, want := range []string{`aria-label="Contacts per day: 5 in all"`, `id="kpi-rates"`, `data-series="Sales"`, `data-series="Support"`,
		`id="kpi-times"`, "<title>" + day(0) + ": 3 contacts, 2 accepted, 1 abandoned</title>", `href="/kpis"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}

	// One queue: its rows only, its service level against its target.
	page, rows = assertPageMatchesAPI(t, ts, b, co.api.Token, "from="+day(13)+"&to="+day(0)+"&queue_id="+sales.String())
	if len(rows) != 2 || !strings.Contains(page, `data-series="service level"`) || !strings.Contains(page, `data-series="abandon rate"`) ||
		!strings.Contains(page, "<title>target 90.0 %</title>") || !strings.Contains(page, `<option value="`+sales.String()+`" selected>Sales</option>`) {
		t.Errorf("Sales only: %d rows", len(rows))
	}
	// A longer period reaches the older contact.
	if _, rows = assertPageMatchesAPI(t, ts, b, co.api.Token, "from="+day(30)+"&to="+day(0)); len(rows) != 5 {
		t.Errorf("30 days: %d rows, want 5", len(rows))
	}

	// Bad input is a readable message above the form, kept as typed.
	for _, tc := range []struct{ query, want string }{
		{"from=2025-13-01&to=2025-12-31", "from must be a date as YYYY-MM-DD."},
		{"from=yesterday", "from must be a date as YYYY-MM-DD."},
		{"from=2025-02-01&to=2025-01-31", "from must not be after to."},
		{"from=2024-01-01&to=2025-01-01", "A period is at most 366 days."},
		{"queue_id=sales", "queue_id must be a queue&#39;s id."},
	} {
		resp, body, _ := b.get("/kpis?" + tc.query)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) || !strings.Contains(body, tc.want) ||
			!strings.Contains(body, `id="kpi-form"`) || strings.Contains(body, `id="kpi-table"`) {
			t.Errorf("%s: %d, want 400 with %q", tc.query, resp.StatusCode, tc.want)
		}
	}
	if _, body, _ := b.get("/kpis?from=2025-13-01&to=2025-12-31"); !strings.Contains(body, `name="from" value="2025-13-01"`) {
		t.Error("the form should keep the bad date")
	}
}

func TestKPIPage_RolesAndTenants(t *testing.T) {
	ts := newServer(t)
	a := ts.newKPICompany(t, "acme")
	ts.seedContact(t, a, a.sales.ID, "handled", 1, 0)
	base := ts.listen(t)
	for role, want := range map[string]int{"supervisor": 200, "admin": 200, "agent": 403, "finance": 403} {
		ts.createUser(t, a.api, role+"@acme.example", role)
		b := newBrowserClient(t, base)
		b.login("acme", role+"@acme.example", goodPassword)
		resp, page, _ := b.get("/kpis")
		if resp.StatusCode != want || strings.Contains(page, `id="kpi-form"`) != (want == 200) || strings.Contains(page, "Sales") != (want == 200) {
			t.Errorf("%s GET /kpis: %d, want %d", role, resp.StatusCode, want)
		}
		if want == 403 && !strings.Contains(page, "Only owners, admins and supervisors see the KPIs.") {
			t.Errorf("%s: the 403 page does not say why", role)
		}
		if _, dash, _ := b.get("/dashboard"); strings.Contains(dash, `href="/kpis"`) != (want == 200) {
			t.Errorf("%s: navigation offers /kpis: %v", role, !(want == 200))
		}
		b.logout()
	}

	// Tenant B sees its own (empty) numbers, never A's, even naming A's queue.
	bravo := ts.newKPICompany(t, "bravo")
	b := newBrowserClient(t, base)
	b.login("bravo", "owner@bravo.example", contactstest.Password)
	from := time.Now().UTC().AddDate(0, 0, -13).Format(time.DateOnly)
	for _, q := range []string{"", "&queue_id=" + a.sales.ID.String()} {
		page, rows := assertPageMatchesAPI(t, ts, b, bravo.api.Token, "from="+from+q)
		if len(rows) != 0 || strings.Contains(page, a.sales.ID.String()+`">`) || strings.Contains(page, a.Queue.ID.String()) {
			t.Errorf("B's KPI page (%q) shows A's queues or numbers", q)
		}
	}
}
