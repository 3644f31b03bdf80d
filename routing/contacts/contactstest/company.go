// Package contactstest builds, for tests of the packages that route
// contacts, a signed-up company with a chat queue and available agents.
package contactstest

import (
	"context"
	"testing"
	"time"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// Password is every test user's password.
const Password = "correct horse battery"

// Company is a tenant with its owner, a chat queue "Support" and agents
// a@<slug>.example, b@... that are available for chats.
type Company struct {
	Owner  tenant.Principal
	Agents []tenant.Principal
	Queue  setup.Queue
}

// New signs up the company <slug> and makes agents available, each
// taking chatCapacity chats at once. The agents become available a few
// milliseconds apart, so the first one has idled longest.
func New(t testing.TB, ctx context.Context, tenants *tenant.Service, st *setup.Service, cs *contacts.Service, slug string, agents, chatCapacity int) Company {
	t.Helper()
	res, err := tenants.Signup(ctx, tenant.SignupInput{Company: "Co " + slug, Slug: slug, Name: "Owner",
		Email: "owner@" + slug + ".example", Password: Password, Currency: "EUR"}, tenant.ClientMeta{})
	if err != nil {
		t.Fatal(err)
	}
	co := Company{Owner: tenant.Principal{Actor: tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner}}}
	name := "Support"
	if co.Queue, err = st.CreateQueue(ctx, co.Owner.Actor, setup.QueueInput{Name: &name, Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	for i := range agents {
		u, err := tenants.CreateUser(ctx, co.Owner.Actor, tenant.NewUser{Email: string(rune('a'+i)) + "@" + slug + ".example", Name: "Agent",
			Role: cic.RoleAgent, Password: Password})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetProfile(ctx, co.Owner.Actor, u.ID, setup.ProfileInput{Capacity: map[string]int{"chat": chatCapacity}}); err != nil {
			t.Fatal(err)
		}
		p := tenant.Principal{Actor: tenant.Actor{TenantID: res.Tenant.ID, UserID: u.ID, Role: cic.RoleAgent}}
		if err := cs.SetStatus(ctx, p, "available", true); err != nil {
			t.Fatal(err)
		}
		co.Agents = append(co.Agents, p)
		time.Sleep(2 * time.Millisecond)
	}
	return co
}
