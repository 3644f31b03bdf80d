package setup_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

type world struct {
	db      *testenv.DB
	tenants *tenant.Service
	setup   *setup.Service
	changes []setup.ChangeEvent
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := testenv.NewDB(t)
	ts := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	ts.Password = tenant.FastPasswordParams
	w := &world{db: db, tenants: ts}
	w.setup = &setup.Service{DB: ts.DB, OnChange: func(_ context.Context, ev setup.ChangeEvent) error {
		w.changes = append(w.changes, ev)
		return nil
	}}
	return w
}

func (w *world) company(t *testing.T, slug string) (owner, agent, supervisor tenant.Actor) {
	t.Helper()
	res, err := w.tenants.Signup(testenv.Context(t), tenant.SignupInput{Company: "Co " + slug, Slug: slug, Name: "Owner",
		Email: "owner@" + slug + ".example", Password: "correct horse battery", Currency: "EUR"}, tenant.ClientMeta{})
	if err != nil {
		t.Fatal(err)
	}
	owner = tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner}
	mk := func(local string, role cic.Role) tenant.Actor {
		u, err := w.tenants.CreateUser(testenv.Context(t), owner, tenant.NewUser{Email: local + "@" + slug + ".example", Name: local, Role: role, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		return tenant.Actor{TenantID: res.Tenant.ID, UserID: u.ID, Role: role}
	}
	return owner, mk("agent", cic.RoleAgent), mk("sup", cic.RoleSupervisor)
}

func ptr[T any](v T) *T { return &v }

func TestQueueInput_Validation(t *testing.T) {
	w := newWorld(t)
	owner, _, _ := w.company(t, "acme")
	other, err := w.setup.CreateQueue(testenv.Context(t), owner, setup.QueueInput{Name: ptr("Other"), Channels: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   setup.QueueInput
		want string
	}{
		{"no name", setup.QueueInput{Channels: []string{"chat"}}, "missing_name"},
		{"no channel", setup.QueueInput{Name: ptr("Q")}, "invalid_channels"},
		{"unknown channel", setup.QueueInput{Name: ptr("Q"), Channels: []string{"pigeon"}}, "invalid_channels"},
		{"channel twice", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat", "chat"}}, "invalid_channels"},
		{"bad strategy", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Strategy: ptr("random")}, "invalid_strategy"},
		{"sl over 100%", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, SLPercent: ptr(101)}, "invalid_service_level"},
		{"offer timeout too short", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, OfferTimeout: ptr(1)}, "invalid_offer_timeout"},
		{"skill level 11", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Skills: []setup.Requirement{{SkillID: uuid.New(), MinLevel: 11}}}, "invalid_skills"},
		{"unknown skill", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Skills: []setup.Requirement{{SkillID: uuid.New(), MinLevel: 3}}}, "unknown_skill"},
		{"max wait without overflow", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, MaxWait: ptr(60)}, "invalid_overflow"},
		{"unknown overflow", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, MaxWait: ptr(60), OverflowID: ptr(uuid.New())}, "invalid_overflow"},
		{"bad time zone", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Hours: &setup.BusinessHours{Timezone: "Mars/Olympus", Days: map[string][2]string{"mon": {"08:00", "18:00"}}}}, "invalid_timezone"},
		{"server's local zone", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Hours: &setup.BusinessHours{Timezone: "Local", Days: map[string][2]string{"mon": {"08:00", "18:00"}}}}, "invalid_timezone"},
		{"no time zone", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Hours: &setup.BusinessHours{Days: map[string][2]string{"mon": {"08:00", "18:00"}}}}, "invalid_timezone"},
		{"closing time missing", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Hours: &setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"mon": {"08:00", ""}}}}, "invalid_business_hours"},
		{"no such hour", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Hours: &setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"mon": {"08:00", "25:00"}}}}, "invalid_business_hours"},
		{"closes before it opens", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Hours: &setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"mon": {"18:00", "08:00"}}}}, "invalid_business_hours"},
		{"duplicate name", setup.QueueInput{Name: ptr("other"), Channels: []string{"chat"}}, "queue_exists"},
		{"ok with overflow", setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat", "email"}, MaxWait: ptr(60), OverflowID: &other.ID}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.setup.CreateQueue(testenv.Context(t), owner, tc.in)
			if got := testenv.Code(err); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQueue_CreateUpdateDeleteAndRoles(t *testing.T) {
	w := newWorld(t)
	owner, agent, sup := w.company(t, "acme")
	c := testenv.Context(t)
	de, err := w.setup.CreateSkill(c, owner, "German")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.setup.CreateSkill(c, owner, "german"); testenv.Code(err) != "skill_exists" {
		t.Errorf("duplicate skill: %v", err)
	}
	if _, err := w.setup.CreateSkill(c, agent, "French"); testenv.Code(err) != "forbidden" {
		t.Errorf("agent creating a skill: %v", err)
	}
	hours := &setup.BusinessHours{Timezone: "Europe/Berlin", Days: map[string][2]string{"mon": {"08:00", "18:00"}}}
	q, err := w.setup.CreateQueue(c, owner, setup.QueueInput{Name: ptr("Support DE"), Channels: []string{"chat"},
		Skills: []setup.Requirement{{SkillID: de.ID, MinLevel: 5}}, Priority: ptr(10), Strategy: ptr("best_skill"),
		RelaxAfter: ptr(60), CostCentre: ptr("CC-100"), Hours: hours, ClosedMsg: ptr("We are closed.")})
	if err != nil {
		t.Fatal(err)
	}
	if q.SLPercent != 80 || q.SLSeconds != 20 || q.OfferTimeout != 20 || q.MaxMisses != 3 || q.Strategy != "best_skill" {
		t.Errorf("defaults: %+v", q)
	}
	got, err := w.setup.GetQueue(c, sup, q.ID)
	if err != nil || len(got.Skills) != 1 || got.Skills[0].MinLevel != 5 || got.Hours == nil || got.Hours.Timezone != "Europe/Berlin" || *got.RelaxAfter != 60 {
		t.Fatalf("read back: %+v %v", got, err)
	}
	if _, err := w.setup.GetQueue(c, agent, q.ID); testenv.Code(err) != "forbidden" {
		t.Errorf("agent reading a queue: %v", err)
	}
	up, err := w.setup.UpdateQueue(c, owner, q.ID, setup.QueueInput{Channels: []string{"chat", "email"}, Skills: []setup.Requirement{},
		Clear: map[string]bool{"business_hours": true, "relax_after_seconds": true}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != "Support DE" || len(up.Channels) != 2 || len(up.Skills) != 0 || up.Hours != nil || up.RelaxAfter != nil || up.Priority != 10 {
		t.Errorf("after update: %+v", up)
	}
	if _, err := w.setup.UpdateQueue(c, owner, uuid.New(), setup.QueueInput{Name: ptr("X")}); testenv.Code(err) != "not_found" {
		t.Errorf("update unknown: %v", err)
	}
	// A skill still held by an agent cannot go.
	if _, err := w.setup.SetProfile(c, owner, agent.UserID, setup.ProfileInput{Skills: []setup.SkillLevel{{SkillID: de.ID, Level: 7}},
		Capacity: map[string]int{"chat": 3, "email": 5}}); err != nil {
		t.Fatal(err)
	}
	if err := w.setup.DeleteSkill(c, owner, de.ID); testenv.Code(err) != "skill_in_use" {
		t.Errorf("delete a skill in use: %v", err)
	}
	if err := w.setup.DeleteQueue(c, owner, q.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.setup.DeleteQueue(c, owner, q.ID); testenv.Code(err) != "not_found" {
		t.Errorf("second delete: %v", err)
	}
	var audited int
	if err := w.db.Owner.QueryRow(c, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action LIKE 'queue.%'`, owner.TenantID).Scan(&audited); err != nil || audited != 3 {
		t.Errorf("queue changes audited %d times (%v), want 3", audited, err)
	}
	if len(w.changes) < 5 {
		t.Errorf("OnChange called %d times", len(w.changes))
	}
}

func TestProfile_SetAndRead(t *testing.T) {
	w := newWorld(t)
	owner, agent, _ := w.company(t, "acme")
	c := testenv.Context(t)
	sk, _ := w.setup.CreateSkill(c, owner, "Billing")
	for _, tc := range []struct {
		name string
		in   setup.ProfileInput
		want string
	}{
		{"level 0", setup.ProfileInput{Skills: []setup.SkillLevel{{SkillID: sk.ID, Level: 0}}}, "invalid_skills"},
		{"skill twice", setup.ProfileInput{Skills: []setup.SkillLevel{{SkillID: sk.ID, Level: 2}, {SkillID: sk.ID, Level: 3}}}, "invalid_skills"},
		{"unknown channel", setup.ProfileInput{Capacity: map[string]int{"pigeon": 1}}, "invalid_capacity"},
		{"too many", setup.ProfileInput{Capacity: map[string]int{"chat": 51}}, "invalid_capacity"},
		{"unknown skill", setup.ProfileInput{Skills: []setup.SkillLevel{{SkillID: uuid.New(), Level: 3}}}, "unknown_skill"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.setup.SetProfile(c, owner, agent.UserID, tc.in); testenv.Code(err) != tc.want {
				t.Errorf("code %q, want %q", testenv.Code(err), tc.want)
			}
		})
	}
	p, err := w.setup.SetProfile(c, owner, agent.UserID, setup.ProfileInput{Skills: []setup.SkillLevel{{SkillID: sk.ID, Level: 9}},
		Capacity: map[string]int{"voice": 1, "chat": 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Capacity) != 1 || p.Capacity["voice"] != 1 || p.Skills[0].Level != 9 {
		t.Errorf("profile: %+v", p)
	}
	mine, err := w.setup.GetProfile(c, agent, agent.UserID)
	if err != nil || mine.Capacity["voice"] != 1 {
		t.Errorf("agent reading own profile: %+v %v", mine, err)
	}
	if _, err := w.setup.GetProfile(c, agent, owner.UserID); testenv.Code(err) != "forbidden" {
		t.Errorf("agent reading another's profile: %v", err)
	}
	all, err := w.setup.Profiles(c, owner.TenantID)
	if err != nil || len(all) != 1 || all[0].UserID != agent.UserID {
		t.Errorf("profiles: %+v %v", all, err)
	}
	if _, err := w.setup.SetProfile(c, owner, uuid.New(), setup.ProfileInput{}); testenv.Code(err) != "not_found" {
		t.Errorf("unknown user: %v", err)
	}
}

func TestSetup_TenantIsolation(t *testing.T) {
	w := newWorld(t)
	a, agentA, _ := w.company(t, "acme")
	b, _, _ := w.company(t, "bravo")
	c := testenv.Context(t)
	sk, _ := w.setup.CreateSkill(c, a, "German")
	q, err := w.setup.CreateQueue(c, a, setup.QueueInput{Name: ptr("Support"), Channels: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.setup.GetQueue(c, b, q.ID); testenv.Code(err) != "not_found" {
		t.Errorf("B reads A's queue: %v", err)
	}
	if _, err := w.setup.UpdateQueue(c, b, q.ID, setup.QueueInput{Name: ptr("Hijacked")}); testenv.Code(err) != "not_found" {
		t.Errorf("B updates A's queue: %v", err)
	}
	if err := w.setup.DeleteQueue(c, b, q.ID); testenv.Code(err) != "not_found" {
		t.Errorf("B deletes A's queue: %v", err)
	}
	if _, err := w.setup.CreateQueue(c, b, setup.QueueInput{Name: ptr("Q"), Channels: []string{"chat"}, Skills: []setup.Requirement{{SkillID: sk.ID, MinLevel: 1}}}); testenv.Code(err) != "unknown_skill" {
		t.Errorf("B requires A's skill: %v", err)
	}
	if _, err := w.setup.SetProfile(c, b, agentA.UserID, setup.ProfileInput{}); testenv.Code(err) != "not_found" {
		t.Errorf("B sets A's agent profile: %v", err)
	}
	if err := w.setup.DeleteSkill(c, b, sk.ID); testenv.Code(err) != "not_found" {
		t.Errorf("B deletes A's skill: %v", err)
	}
	if qs, _ := w.setup.ListQueues(c, b); len(qs) != 0 {
		t.Errorf("B lists A's queues: %+v", qs)
	}
	if got, err := w.setup.GetQueue(c, a, q.ID); err != nil || got.Name != "Support" {
		t.Errorf("A's queue after B: %+v %v", got, err)
	}
}

func TestBusinessHours_OpenAt(t *testing.T) {
	h := &setup.BusinessHours{Timezone: "Europe/Berlin", Days: map[string][2]string{"mon": {"08:00", "18:00"}, "sat": {"10:00", "12:00"}}}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tt, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for _, tc := range []struct {
		at   string
		open bool
	}{
		{"2026-11-23T07:00:00Z", true},  // Monday 08:00 in Berlin (UTC+1)
		{"2026-11-23T06:59:00Z", false}, // 07:59
		{"2026-11-23T16:59:00Z", true},  // 17:59
		{"2026-11-23T17:00:00Z", false}, // 18:00 closes
		{"2026-11-24T10:00:00Z", false}, // Tuesday: closed
		{"2026-11-28T09:30:00Z", true},  // Saturday 10:30
		{"2026-07-06T06:30:00Z", true},  // Monday 08:30 in summer time (UTC+2)
	} {
		if got := h.OpenAt(at(tc.at)); got != tc.open {
			t.Errorf("%s: open %v, want %v", tc.at, got, tc.open)
		}
	}
	var always *setup.BusinessHours
	if !always.OpenAt(time.Now()) {
		t.Error("no hours should be always open")
	}
	if err := (&setup.BusinessHours{Timezone: "UTC", Days: map[string][2]string{"funday": {"08:00", "09:00"}}}).Validate(); testenv.Code(err) != "invalid_business_hours" {
		t.Errorf("unknown day: %v", err)
	}
}
