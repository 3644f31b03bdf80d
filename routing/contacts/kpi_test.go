package contacts_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// handMade is a contact written straight into the table: its queue
// ("support" with a 20 s target, "sales" with 30 s) and its times as
// offsets (s) from queued; -1 leaves a time unset.
type handMade struct {
	queue                    string
	state                    string
	queued                   time.Time
	accepted, wrapUp, closed float64
	notQueued                bool
	customer                 string
}

var day = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func at(offset time.Duration) time.Time { return day.Add(offset) }

// kpiCompany is a tenant with two queues and an owner.
type kpiCompany struct {
	owner  tenant.Principal
	queues map[string]setup.Queue
}

func (w *world) kpiCompany(t *testing.T, slug string) kpiCompany {
	t.Helper()
	co := w.company(t, slug, 0)
	name, sl := "Sales", 30
	sales, err := w.setup.CreateQueue(testenv.Context(t), co.owner.Actor, setup.QueueInput{Name: &name, Channels: []string{"chat"}, SLSeconds: &sl})
	if err != nil {
		t.Fatal(err)
	}
	return kpiCompany{owner: co.owner, queues: map[string]setup.Queue{"support": co.queue, "sales": sales}}
}

func (w *world) insert(t *testing.T, co kpiCompany, cs ...handMade) {
	t.Helper()
	for _, h := range cs {
		when := func(off float64) *time.Time {
			if off < 0 {
				return nil
			}
			v := h.queued.Add(time.Duration(off * float64(time.Second)))
			return &v
		}
		queued := &h.queued
		if h.notQueued {
			queued = nil
		}
		var agent *uuid.UUID
		if h.accepted >= 0 {
			agent = &co.owner.UserID
		}
		_, err := w.db.Owner.Exec(testenv.Context(t), `INSERT INTO contacts (tenant_id, id, channel, state, queue_id, agent_id, customer_ref,
				created_at, queued_at, accepted_at, wrap_up_at, closed_at)
			VALUES ($1, $2, 'chat', $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			co.owner.TenantID, uuid.New(), h.state, co.queues[h.queue].ID, agent, h.customer,
			h.queued, queued, when(h.accepted), when(h.wrapUp), when(h.closed))
		if err != nil {
			t.Fatal(err)
		}
	}
}

func show(ks []contacts.KPI) string {
	f := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *v)
	}
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%s %s offered=%d accepted=%d abandoned=%d in_sl=%d abandoned_after_sl=%d handled=%d sl=%s asa=%s aht=%s abandon=%s\n",
			k.Day, k.Queue, k.Offered, k.Accepted, k.Abandoned, k.AnsweredInSL, k.AbandonedAfterSL, k.Handled,
			f(k.ServiceLevel), f(k.ASA), f(k.AHT), f(k.AbandonRate))
	}
	return b.String()
}

func TestKPIs_PerDayAndQueue(t *testing.T) {
	w := newWorld(t)
	for i, tc := range []struct {
		name     string
		give     []handMade
		from, to time.Time
		queue    string
		want     string
	}{{
		name: "service level leaves out abandons within the target",
		give: []handMade{
			{queue: "support", state: "wrap_up", queued: at(0), accepted: 10, wrapUp: 130, closed: -1},         // in SL, handled 120 s
			{queue: "support", state: "closed", queued: at(time.Minute), accepted: 30, wrapUp: -1, closed: 90}, // late, handled 60 s
			{queue: "support", state: "abandoned", queued: at(2 * time.Minute), accepted: -1, wrapUp: -1, closed: 5},
			{queue: "support", state: "abandoned", queued: at(3 * time.Minute), accepted: -1, wrapUp: -1, closed: 25},
			{queue: "support", state: "queued", queued: at(4 * time.Minute), accepted: -1, wrapUp: -1, closed: -1},
		},
		from: day, to: day,
		want: "2025-03-10 Support offered=5 accepted=2 abandoned=2 in_sl=1 abandoned_after_sl=1 handled=2 sl=33.3 asa=20.0 aht=90.0 abandon=40.0\n",
	}, {
		name: "a wait of exactly the target is within it; a contact in conversation has no handle time yet",
		give: []handMade{
			{queue: "support", state: "accepted", queued: at(0), accepted: 20, wrapUp: -1, closed: -1},
		},
		from: day, to: day,
		want: "2025-03-10 Support offered=1 accepted=1 abandoned=0 in_sl=1 abandoned_after_sl=0 handled=0 sl=100.0 asa=20.0 aht=- abandon=0.0\n",
	}, {
		name: "milliseconds count and averages round to one decimal",
		give: []handMade{
			{queue: "sales", state: "closed", queued: at(0), accepted: 1.5, wrapUp: 11.5, closed: 12},
			{queue: "sales", state: "closed", queued: at(time.Second), accepted: 2, wrapUp: 2.25, closed: 3},
		},
		from: day, to: day,
		want: "2025-03-10 Sales offered=2 accepted=2 abandoned=0 in_sl=2 abandoned_after_sl=0 handled=2 sl=100.0 asa=1.8 aht=5.1 abandon=0.0\n",
	}, {
		name: "only short abandons: no service level, full abandon rate",
		give: []handMade{
			{queue: "sales", state: "abandoned", queued: at(0), accepted: -1, wrapUp: -1, closed: 30},
		},
		from: day, to: day,
		want: "2025-03-10 Sales offered=1 accepted=0 abandoned=1 in_sl=0 abandoned_after_sl=0 handled=0 sl=- asa=- aht=- abandon=100.0\n",
	}, {
		name: "days are UTC days, ascending, queues by name; contacts outside the period are left out",
		give: []handMade{
			{queue: "support", state: "closed", queued: at(-9*time.Hour - time.Second), accepted: 4, wrapUp: 10, closed: -1}, // 2025-03-09 23:59:59
			{queue: "support", state: "closed", queued: at(-9 * time.Hour), accepted: 40, wrapUp: 50, closed: -1},            // 2025-03-10 00:00:00
			{queue: "sales", state: "closed", queued: at(0), accepted: 8, wrapUp: 9, closed: -1},
			{queue: "sales", state: "closed", queued: at(48 * time.Hour), accepted: 8, wrapUp: 9, closed: -1},  // 2025-03-12: outside
			{queue: "sales", state: "closed", queued: at(-72 * time.Hour), accepted: 8, wrapUp: 9, closed: -1}, // 2025-03-07: outside
		},
		from: day.AddDate(0, 0, -1), to: day.AddDate(0, 0, 1),
		want: "2025-03-09 Support offered=1 accepted=1 abandoned=0 in_sl=1 abandoned_after_sl=0 handled=1 sl=100.0 asa=4.0 aht=6.0 abandon=0.0\n" +
			"2025-03-10 Sales offered=1 accepted=1 abandoned=0 in_sl=1 abandoned_after_sl=0 handled=1 sl=100.0 asa=8.0 aht=1.0 abandon=0.0\n" +
			"2025-03-10 Support offered=1 accepted=1 abandoned=0 in_sl=0 abandoned_after_sl=0 handled=1 sl=0.0 asa=40.0 aht=10.0 abandon=0.0\n",
	}, {
		name: "one queue only; contacts never queued (no credit) do not count",
		give: []handMade{
			{queue: "support", state: "closed", queued: at(0), accepted: 1, wrapUp: 2, closed: -1},
			{queue: "sales", state: "closed", queued: at(0), accepted: 1, wrapUp: 2, closed: -1},
			{queue: "sales", state: "rejected_no_credit", queued: at(0), accepted: -1, wrapUp: -1, closed: -1, notQueued: true},
		},
		from: day, to: day, queue: "sales",
		want: "2025-03-10 Sales offered=1 accepted=1 abandoned=0 in_sl=1 abandoned_after_sl=0 handled=1 sl=100.0 asa=1.0 aht=1.0 abandon=0.0\n",
	}, {
		name: "a day without contacts is empty",
		from: day, to: day,
		want: "",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			co := w.kpiCompany(t, fmt.Sprintf("kpi%d", i))
			w.insert(t, co, tc.give...)
			q := contacts.KPIQuery{From: tc.from, To: tc.to}
			if tc.queue != "" {
				id := co.queues[tc.queue].ID
				q.QueueID = &id
			}
			got, err := w.contacts.KPIs(testenv.Context(t), co.owner, q)
			if err != nil {
				t.Fatal(err)
			}
			if s := show(got); s != tc.want {
				t.Errorf("got\n%swant\n%s", s, tc.want)
			}
		})
	}
}

func TestKPIs_PeriodRoleAndTenant(t *testing.T) {
	w := newWorld(t)
	a, b := w.kpiCompany(t, "acme"), w.kpiCompany(t, "bravo")
	w.insert(t, a, handMade{queue: "support", state: "closed", queued: at(0), accepted: 1, wrapUp: 2, closed: -1})
	c := testenv.Context(t)
	for _, tc := range []struct {
		name     string
		who      tenant.Principal
		from, to time.Time
		want     string // error code, or "" for success
	}{
		{"from after to", a.owner, day, day.AddDate(0, 0, -1), "invalid_period"},
		{"366 days is the longest period", a.owner, day, day.AddDate(0, 0, 365), ""},
		{"367 days is too long", a.owner, day, day.AddDate(0, 0, 366), "invalid_period"},
		{"agents see no KPIs", withRole(a.owner, cic.RoleAgent), day, day, "forbidden"},
		{"finance sees no KPIs", withRole(a.owner, cic.RoleFinance), day, day, "forbidden"},
		{"supervisors do", withRole(a.owner, cic.RoleSupervisor), day, day, ""},
	} {
		_, err := w.contacts.KPIs(c, tc.who, contacts.KPIQuery{From: tc.from, To: tc.to})
		if testenv.Code(err) != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, testenv.Code(err), tc.want)
		}
	}
	got, err := w.contacts.KPIs(c, b.owner, contacts.KPIQuery{From: day, To: day})
	if err != nil || len(got) != 0 {
		t.Fatalf("tenant B sees %v %v", got, err)
	}
	// B cannot even name A's queue.
	id := a.queues["support"].ID
	if got, err := w.contacts.KPIs(c, b.owner, contacts.KPIQuery{From: day, To: day, QueueID: &id}); err != nil || len(got) != 0 {
		t.Fatalf("tenant B with A's queue sees %v %v", got, err)
	}
	if got, err := w.contacts.KPIs(c, a.owner, contacts.KPIQuery{From: day, To: day}); err != nil || len(got) != 1 {
		t.Fatalf("tenant A sees %v %v", got, err)
	}
}

func withRole(p tenant.Principal, r cic.Role) tenant.Principal {
	p.Role = r
	return p
}

func TestLiveBoard_CountsPerQueue(t *testing.T) {
	now := day
	support := setup.Queue{ID: uuid.New(), Name: "Support", Channels: []string{"chat", "voice"}, SLSeconds: 20, SLPercent: 80}
	email := setup.Queue{ID: uuid.New(), Name: "Mail", Channels: []string{"email"}, SLSeconds: 3600, SLPercent: 90}
	sid := support.ID.String()
	snap := routing.Snapshot{
		Agents: []routing.AgentState{
			{ID: "a1", Status: routing.Available, Capacity: map[routing.Channel]int{routing.Chat: 3}, Load: map[routing.Channel]int{routing.Chat: 2}},
			{ID: "a2", Status: routing.Available, Capacity: map[routing.Channel]int{routing.Call: 1}, Load: map[routing.Channel]int{}},
			{ID: "a3", Status: routing.Away, Capacity: map[routing.Channel]int{routing.Chat: 2}, Load: map[routing.Channel]int{routing.Chat: 1}},
			{ID: "a4", Status: routing.Available, Capacity: map[routing.Channel]int{routing.Email: 5}, Load: map[routing.Channel]int{routing.Email: 5}},
			{ID: "a5", Status: routing.Offline, Capacity: map[routing.Channel]int{routing.Chat: 1, routing.Email: 1}},
		},
		Contacts: []routing.ContactState{
			{ID: "c1", Queue: sid, Status: routing.Waiting, EnqueuedAt: now.Add(-95 * time.Second)},
			{ID: "c2", Queue: sid, Status: routing.Waiting, EnqueuedAt: now.Add(-30 * time.Second)},
			{ID: "c3", Queue: sid, Status: routing.Reserved, EnqueuedAt: now.Add(-300 * time.Second)},
			{ID: "c4", Queue: sid, Status: routing.Assigned, EnqueuedAt: now.Add(-900 * time.Second)},
			{ID: "c5", Queue: "another", Status: routing.Waiting, EnqueuedAt: now.Add(-1000 * time.Second)},
		},
	}
	sl := 50.0
	today := []contacts.KPI{{QueueID: support.ID, Queue: "Support", Offered: 4, ServiceLevel: &sl}}
	w := contacts.LiveBoard([]setup.Queue{email, support}, snap, today, now)
	if w.Day != "2025-03-10" || w.Agents != (contacts.Statuses{Available: 3, Away: 1, Offline: 1}) {
		t.Fatalf("tenant: %s %+v", w.Day, w.Agents)
	}
	pct := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *v)
	}
	got := ""
	for _, q := range w.Queues {
		got += fmt.Sprintf("%s waiting=%d ringing=%d in_progress=%d longest=%d agents=%+v occupancy=%s offered_today=%d sl_target=%d\n",
			q.Name, q.Waiting, q.Ringing, q.InProgress, q.LongestWait, q.Agents, pct(q.Occupancy), q.Today.Offered, q.Today.SLSeconds)
	}
	want := "Mail waiting=0 ringing=0 in_progress=0 longest=0 agents={Available:1 Busy:0 Away:0 WrapUp:0 Offline:1} occupancy=100.0 offered_today=0 sl_target=3600\n" +
		// a1 and a2 are available on chat or voice: (2+0)/(3+1)
		"Support waiting=2 ringing=1 in_progress=1 longest=95 agents={Available:2 Busy:0 Away:1 WrapUp:0 Offline:1} occupancy=50.0 offered_today=4 sl_target=0\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}
