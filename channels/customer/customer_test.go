package customer_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		kind, in, want, code string
	}{
		{"email", "  Jane Doe <Jane.Doe@Example.COM> ", "jane.doe@example.com", ""},
		{"email", "not an address", "", "invalid_email"},
		{"phone", "+49 (30) 123-456-78", "+493012345678", ""},
		{"phone", "0049 30 1234567", "+49301234567", ""},
		{"phone", "030 1234567", "", "invalid_phone"},
		{"phone", "+49 30 12x", "", "invalid_phone"},
		{"phone", "+0123456789", "", "invalid_phone"},
		{"phone", "+1234567890123456", "", "invalid_phone"},
		{"handle", "Facebook: @Jane.Doe", "facebook:jane.doe", ""},
		{"handle", "janedoe", "", "invalid_handle"},
		{"visitor", "v-123", "v-123", ""},
		{"visitor", "", "", "invalid_visitor"},
		{"fax", "x", "", "invalid_kind"},
	} {
		got, err := customer.Normalize(tc.kind, tc.in)
		if testenv.Code(err) != tc.code || got != tc.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q, %q", tc.kind, tc.in, got, err, tc.want, tc.code)
		}
	}
}

func TestParseScore(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"5", 5, true},
		{" 4. ", 4, true},
		{"\r\n3\r\n\r\nOn Monday you wrote:\r\n> How satisfied are you? 1 to 5", 3, true},
		{"2/5", 2, true},
		{"6", 0, false},
		{"0", 0, false},
		{"5 stars, thanks", 0, false},
		{"My order 12345 did not arrive", 0, false},
		{"", 0, false},
	} {
		got, ok := customer.ParseScore(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseScore(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

type fixture struct {
	db  *testenv.DB
	svc *customer.Service
	a   tenant.Actor // owner of company A
	b   tenant.Actor // owner of company B
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	db := testenv.NewDB(t)
	ts := tenant.NewService(&tenant.DB{Pool: db.App}, tenant.GenerateKeys(), nil)
	ts.Password = tenant.FastPasswordParams
	ctx := testenv.Context(t)
	signup := func(slug string) tenant.Actor {
		res, err := ts.Signup(ctx, tenant.SignupInput{Company: "Co " + slug, Slug: slug, Name: "Owner",
			Email: "owner@" + slug + ".example", Password: "correct horse battery", Currency: "EUR"}, tenant.ClientMeta{})
		if err != nil {
			t.Fatal(err)
		}
		return tenant.Actor{TenantID: res.Tenant.ID, UserID: res.User.ID, Role: cic.RoleOwner}
	}
	return fixture{db: db, svc: &customer.Service{DB: ts.DB}, a: signup("acme"), b: signup("globex")}
}

// The same address, however written and however many first contacts
// arrive at once, is one customer; another tenant's is another.
func TestResolveOnePerIdentity(t *testing.T) {
	f := newFixture(t)
	ctx := testenv.Context(t)
	ids := make([]uuid.UUID, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := "Jane <jane@example.com>"
			if i%2 == 1 {
				addr = "JANE@EXAMPLE.COM"
			}
			id, err := f.svc.Resolve(ctx, f.a.TenantID, customer.KindEmail, addr, "Jane")
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("one address gave several customers: %v", ids)
		}
	}
	other, err := f.svc.Resolve(ctx, f.b.TenantID, customer.KindEmail, "jane@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	if other == ids[0] {
		t.Fatal("tenant B got tenant A's customer")
	}
	var n int
	if err := f.db.Owner.QueryRow(ctx, `SELECT count(*) FROM customers WHERE tenant_id = $1`, f.a.TenantID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d customers for one address; want 1 (losers of the race are dropped)", n)
	}
}

func TestLinkMergePreferences(t *testing.T) {
	f := newFixture(t)
	ctx := testenv.Context(t)
	jane, _ := f.svc.Resolve(ctx, f.a.TenantID, customer.KindEmail, "jane@example.com", "Jane")
	caller, _ := f.svc.Resolve(ctx, f.a.TenantID, customer.KindPhone, "+49 30 1234567", "")

	// The phone is the caller's: linking it to Jane is refused, merging works.
	if _, err := f.svc.Link(ctx, f.a, jane, customer.KindPhone, "+49301234567"); testenv.Code(err) != "identity_taken" {
		t.Fatalf("link a taken phone: %v; want identity_taken", err)
	}
	merged, err := f.svc.Merge(ctx, f.a, jane, caller)
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Identities) != 2 || merged.ID != jane {
		t.Fatalf("merged = %+v; want Jane with e-mail and phone", merged)
	}
	// The merged id still leads to Jane, and the phone resolves to her.
	got, err := f.svc.Get(ctx, f.a.TenantID, caller)
	if err != nil || got.ID != jane {
		t.Fatalf("get merged id = %v, %v; want Jane", got.ID, err)
	}
	if id, _ := f.svc.Resolve(ctx, f.a.TenantID, customer.KindPhone, "+49301234567", ""); id != jane {
		t.Fatalf("phone resolves to %v; want Jane %v", id, jane)
	}
	if _, err := f.svc.Merge(ctx, f.a, jane, jane); testenv.Code(err) != "same_customer" {
		t.Fatalf("merge into itself: %v", err)
	}
	if _, err := f.svc.Link(ctx, f.a, jane, customer.KindHandle, "facebook:jane"); err != nil {
		t.Fatal(err)
	}

	pref, no := "voice", []string{customer.NoSalesPhone}
	c, err := f.svc.SetPreferences(ctx, f.a, jane, customer.Preferences{PreferredChannel: &pref, OptOuts: no})
	if err != nil {
		t.Fatal(err)
	}
	if c.PreferredChannel == nil || *c.PreferredChannel != "voice" || len(c.OptOuts) != 1 {
		t.Fatalf("preferences = %+v", c)
	}
	if err := customer.OutboundAllowed(c, "voice", "spring-sale"); testenv.Code(err) != "customer_opted_out" {
		t.Fatalf("sales call to a no-sales-by-phone customer: %v", err)
	}
	if err := customer.OutboundAllowed(c, "voice", ""); err != nil {
		t.Fatalf("service call refused: %v", err)
	}
	if err := customer.OutboundAllowed(c, "email", "spring-sale"); err != nil {
		t.Fatalf("sales e-mail refused: %v", err)
	}
	bad := "pigeon"
	if _, err := f.svc.SetPreferences(ctx, f.a, jane, customer.Preferences{PreferredChannel: &bad}); testenv.Code(err) != "invalid_channel" {
		t.Fatalf("bad channel: %v", err)
	}
	if _, err := f.svc.SetPreferences(ctx, f.a, jane, customer.Preferences{OptOuts: []string{"no_everything"}}); testenv.Code(err) != "invalid_opt_out" {
		t.Fatalf("bad opt-out: %v", err)
	}

	// Tenant B sees none of it and changes none of it.
	if _, err := f.svc.Get(ctx, f.b.TenantID, jane); testenv.Code(err) != "not_found" {
		t.Fatalf("B reads A's customer: %v", err)
	}
	if _, err := f.svc.SetPreferences(ctx, f.b, jane, customer.Preferences{PreferredChannel: &pref}); testenv.Code(err) != "not_found" {
		t.Fatalf("B changes A's customer: %v", err)
	}
	bc, _ := f.svc.Resolve(ctx, f.b.TenantID, customer.KindEmail, "x@example.com", "")
	if _, err := f.svc.Merge(ctx, f.b, bc, jane); testenv.Code(err) != "not_found" {
		t.Fatalf("B merges A's customer: %v", err)
	}
	if found, err := f.svc.Search(ctx, f.b.TenantID, "jane"); err != nil || len(found) != 0 {
		t.Fatalf("B finds A's customers: %v, %v", found, err)
	}
	if found, err := f.svc.Search(ctx, f.a.TenantID, "jane"); err != nil || len(found) != 1 {
		t.Fatalf("A searches jane: %v, %v; want Jane", found, err)
	}
	var audits int
	if err := f.db.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action LIKE 'customer.%'`, f.a.TenantID).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if audits < 3 {
		t.Fatalf("%d customer audit entries; want link, merge and preferences", audits)
	}
}
