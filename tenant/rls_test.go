package tenant_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// platformTables are the only tables allowed without tenant_id: the
// migrations' bookkeeping and billing's catalogue, which every tenant
// reads and only the platform operator writes, and the operators' own
// tables (hidden by a policy of their own: TestOperator_TablesHiddenFromTenantTransactions).
var platformTables = map[string]bool{"goose_db_version": true,
	"catalog_tiers": true, "catalog_prices": true, "catalog_seat_prices": true, "catalog_overage_prices": true,
	"operators": true, "operator_sessions": true, "operator_audit": true}

// TestRLS_EveryTenantTableIsIsolated walks the catalog, so a table added
// by a later migration is covered without touching this test: it must
// lead its primary key with tenant_id, force row-level security, have a
// policy, and have fixture rows (add them to populate below).
func TestRLS_EveryTenantTableIsIsolated(t *testing.T) {
	s, db := newService(t)
	c := ctx(t)
	a := signup(t, s, "tenant-a")
	b := signup(t, s, "tenant-b")
	populate(t, s, a)

	rows, err := db.Owner.Query(c, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
			(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid),
			(SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			 WHERE i.indrelid = c.oid AND i.indisprimary)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct {
		name       string
		rls, force bool
		policies   int
		firstPK    *string
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var tb table
		return tb, r.Scan(&tb.name, &tb.rls, &tb.force, &tb.policies, &tb.firstPK)
	})
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, tb := range tables {
		if platformTables[tb.name] {
			continue
		}
		checked++
		t.Run(tb.name, func(t *testing.T) {
			if !tb.rls || !tb.force {
				t.Errorf("row-level security enabled=%v forced=%v, want both", tb.rls, tb.force)
			}
			if tb.policies == 0 {
				t.Errorf("no policy")
			}
			if tb.firstPK == nil || *tb.firstPK != "tenant_id" {
				t.Errorf("primary key must lead with tenant_id, got %v", tb.firstPK)
			}
			q := pgx.Identifier{tb.name}.Sanitize()
			var n int
			if err := db.Owner.QueryRow(c, fmt.Sprintf(`SELECT count(*) FROM %s WHERE tenant_id = $1`, q), a.Tenant.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatalf("no fixture rows for tenant A: extend populate() so isolation is really tested")
			}
			// App role, no tenant setting: nothing at all.
			if err := db.App.QueryRow(c, fmt.Sprintf(`SELECT count(*) FROM %s`, q)).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("without app.tenant_id the app role sees %d rows, want 0", n)
			}
			// Tenant B's transaction: cannot read, update or delete A's rows.
			err := s.DB.Tx(c, b.Tenant.ID, func(tx pgx.Tx) error {
				if err := tx.QueryRow(c, fmt.Sprintf(`SELECT count(*) FROM %s WHERE tenant_id = $1`, q), a.Tenant.ID).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("tenant B reads %d of A's rows", n)
				}
				tag, err := tx.Exec(c, fmt.Sprintf(`UPDATE %s SET tenant_id = tenant_id WHERE tenant_id = $1`, q), a.Tenant.ID)
				if err != nil {
					return err
				}
				if tag.RowsAffected() != 0 {
					t.Errorf("tenant B updates %d of A's rows", tag.RowsAffected())
				}
				tag, err = tx.Exec(c, fmt.Sprintf(`DELETE FROM %s WHERE tenant_id = $1`, q), a.Tenant.ID)
				if err != nil {
					return err
				}
				if tag.RowsAffected() != 0 {
					t.Errorf("tenant B deletes %d of A's rows", tag.RowsAffected())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// And B cannot move its own rows into A (WITH CHECK).
			var own int
			if err := db.Owner.QueryRow(c, fmt.Sprintf(`SELECT count(*) FROM %s WHERE tenant_id = $1`, q), b.Tenant.ID).Scan(&own); err != nil {
				t.Fatal(err)
			}
			if own > 0 {
				err = s.DB.Tx(c, b.Tenant.ID, func(tx pgx.Tx) error {
					_, err := tx.Exec(c, fmt.Sprintf(`UPDATE %s SET tenant_id = $1 WHERE tenant_id = $2`, q), a.Tenant.ID, b.Tenant.ID)
					return err
				})
				if err == nil {
					t.Errorf("tenant B moved its rows into tenant A")
				}
			}
		})
	}
	if checked < 8 {
		t.Fatalf("checked %d tables, expected the foundation's 8 at least", checked)
	}
}

// TestRLS_AppRoleCannotBypass proves the role the server uses has neither
// superuser nor BYPASSRLS, and owns no table.
func TestRLS_AppRoleCannotBypass(t *testing.T) {
	_, db := newService(t)
	c := ctx(t)
	var super, bypass bool
	var owned int
	err := db.App.QueryRow(c, `SELECT rolsuper, rolbypassrls,
		(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
		FROM pg_roles r WHERE rolname = current_user`).Scan(&super, &bypass, &owned)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass || owned != 0 {
		t.Fatalf("app role: superuser=%v bypassrls=%v owns %d tables; want none", super, bypass, owned)
	}
	if _, err := db.App.Exec(c, `ALTER TABLE users DISABLE ROW LEVEL SECURITY`); err == nil {
		t.Fatal("app role could disable row-level security")
	}
}

// populate gives tenant A at least one row in every tenant table.
func populate(t *testing.T, s *tenant.Service, r tenant.SignupResult) {
	t.Helper()
	c := ctx(t)
	a := ownerActor(r)
	d, err := s.CreateDepartment(c, a, tenant.DepartmentInput{Name: "Support", CostCentre: "CC-100"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InviteUser(c, a, tenant.NewUser{Email: "new@a.example", Name: "New", Role: cic.RoleAgent, DepartmentID: &d.ID}); err != nil {
		t.Fatal(err)
	}
	agent, err := s.CreateUser(c, a, tenant.NewUser{Email: "agent@a.example", Name: "Agent", Role: cic.RoleAgent, Password: "s3cret pass phrase", DepartmentID: &d.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateAPIKey(c, a, "PBX"); err != nil {
		t.Fatal(err)
	}
	// Metering's tables, written as the app role inside the tenant's Tx.
	err = s.DB.Tx(c, r.Tenant.ID, func(tx pgx.Tx) error {
		var bundle uuid.UUID
		if err := tx.QueryRow(c, `SELECT id FROM bundles WHERE tenant_id = $1 LIMIT 1`, r.Tenant.ID).Scan(&bundle); err != nil {
			return err
		}
		for _, q := range []string{
			`INSERT INTO metering_settings (tenant_id) VALUES ($1)`,
			`INSERT INTO meter_records (tenant_id, contact_id, bundle_id, cost_num, cost_den, currency, channel, direction, handled_at, source)
				VALUES ($1, 'c-1', $2, 0, 250, 'EUR', 'chat', 'inbound', now(), 'api')`,
			`INSERT INTO forfeits (tenant_id, bundle_id, contacts, value_num, value_den, currency, expired_at)
				VALUES ($1, $2, 1, 0, 1, 'EUR', now())`,
			`INSERT INTO topup_requests (tenant_id, id, tier_id, currency) VALUES ($1, gen_random_uuid(), 'bundle-10k', 'EUR')`,
			`INSERT INTO negotiated_overage_prices (tenant_id, price_minor, set_by) VALUES ($1, 4, 'operator')`,
			`INSERT INTO balance_warnings (tenant_id, cycle, percent, remaining) VALUES ($1, 250, 20, 50)`,
			// Billing's tables.
			`INSERT INTO purchases (tenant_id, id, tier_id, contacts, price_minor, currency, validity_months, mode, checkout_session_id)
				VALUES ($1, gen_random_uuid(), 'bundle-10k', 10000, 49000, 'EUR', 12, 'local', 'cs_local_rls')`,
			`INSERT INTO seat_checkouts (tenant_id, id, quantity, price_minor, currency, mode) VALUES ($1, gen_random_uuid(), 3, 2900, 'EUR', 'local')`,
			`INSERT INTO subscriptions (tenant_id, id, status, quantity, current_period_end, mode, last_event_at)
				VALUES ($1, 'sub_rls', 'active', 3, now() + interval '30 days', 'local', now())`,
			`INSERT INTO stripe_events (tenant_id, event_id, type, created) VALUES ($1, 'evt_rls', 'invoice.paid', now())`,
			`INSERT INTO invoices (tenant_id, id, status, amount_minor, currency, created_at) VALUES ($1, 'in_rls', 'paid', 100, 'EUR', now())`,
			`INSERT INTO overage_charges (tenant_id, period, contacts, amount_minor, currency, mode) VALUES ($1, '2025-01-01', 1, 5, 'EUR', 'local')`,
			`INSERT INTO topup_charges (tenant_id, request_id, cycle, contacts, price_minor, currency, validity_days, mode)
				SELECT tenant_id, id, 250, 10000, 49000, currency, 365, 'local' FROM topup_requests WHERE tenant_id = $1`,
			`INSERT INTO reconcile_findings (tenant_id, id, kind, ref, detail) VALUES ($1, gen_random_uuid(), 'purchase', 'p', 'differs')`,
		} {
			args := []any{r.Tenant.ID}
			if strings.Contains(q, "$2") {
				args = append(args, bundle)
			}
			if _, err := tx.Exec(c, q, args...); err != nil {
				return fmt.Errorf("%s: %w", q[:30], err)
			}
		}
		// Seats' tables.
		for _, q := range []string{
			`INSERT INTO seat_samples (tenant_id, minute, peak, seat_limit) VALUES ($1, date_trunc('minute', now()), 1, 2)`,
			`INSERT INTO seat_usage_hourly (tenant_id, hour, peak, seat_limit, refused, seat_minutes) VALUES ($1, date_trunc('hour', now()), 1, 2, 0, 1)`,
			`INSERT INTO seat_usage_daily (tenant_id, day, peak, seat_limit, refused, seat_minutes) VALUES ($1, current_date, 1, 2, 0, 1)`,
		} {
			if _, err := tx.Exec(c, q, r.Tenant.ID); err != nil {
				return fmt.Errorf("%s: %w", q[:30], err)
			}
		}
		if _, err := tx.Exec(c, `INSERT INTO seat_reservations (tenant_id, department_id, seats) VALUES ($1, $2, 1)`, r.Tenant.ID, d.ID); err != nil {
			return err
		}
		// Routing's tables.
		skill, queue, contact, calendar := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO skills (tenant_id, id, name) VALUES ($1, $2, 'German')`, []any{skill}},
			{`INSERT INTO queues (tenant_id, id, name, channels) VALUES ($1, $2, 'Support', '{chat}')`, []any{queue}},
			{`INSERT INTO queue_skills (tenant_id, queue_id, skill_id, min_level) VALUES ($1, $2, $3, 5)`, []any{queue, skill}},
			{`INSERT INTO agent_skills (tenant_id, user_id, skill_id, level) VALUES ($1, $2, $3, 7)`, []any{agent.ID, skill}},
			{`INSERT INTO agent_capacity (tenant_id, user_id, channel, capacity) VALUES ($1, $2, 'chat', 3)`, []any{agent.ID}},
			{`INSERT INTO agent_routing_status (tenant_id, user_id, status) VALUES ($1, $2, 'available')`, []any{agent.ID}},
			{`INSERT INTO dispositions (tenant_id, code, label) VALUES ($1, 'solved', 'Solved')`, nil},
			{`INSERT INTO contacts (tenant_id, id, channel, queue_id) VALUES ($1, $2, 'chat', $3)`, []any{contact, queue}},
			{`INSERT INTO contact_events (tenant_id, contact_id, seq, kind) VALUES ($1, $2, 1, 'queued')`, []any{contact}},
			{`INSERT INTO calendars (tenant_id, id, name) VALUES ($1, $2, 'Holidays')`, []any{calendar}},
			{`INSERT INTO calendar_entries (tenant_id, calendar_id, day) VALUES ($1, $2, '2026-12-25')`, []any{calendar}},
			{`UPDATE queues SET calendar_id = $2 WHERE tenant_id = $1`, []any{calendar}},
		} {
			if _, err := tx.Exec(c, q.sql, append([]any{r.Tenant.ID}, q.args...)...); err != nil {
				return fmt.Errorf("%s: %w", q.sql[:30], err)
			}
		}
		// Chat's tables: a widget on the queue, the contact's session and
		// one message.
		widget := uuid.New()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO chat_widgets (tenant_id, id, public_key, name, queue_id, allowed_origins)
				VALUES ($1, $2, 'cw1.rls-fixture-key', 'Site', $3, '{https://shop.example}')`, []any{widget, queue}},
			{`INSERT INTO chat_sessions (tenant_id, contact_id, widget_id, token_hash, origin) VALUES ($1, $2, $3, '\x00', 'https://shop.example')`, []any{contact, widget}},
			{`INSERT INTO chat_messages (tenant_id, contact_id, seq, id, sender, client_msg_id, body)
				VALUES ($1, $2, 1, gen_random_uuid(), 'visitor', 'c1', 'Hello')`, []any{contact}},
		} {
			if _, err := tx.Exec(c, q.sql, append([]any{r.Tenant.ID}, q.args...)...); err != nil {
				return fmt.Errorf("%s: %w", q.sql[:30], err)
			}
		}
		// The channels' tables: a customer on the contact, a message with
		// an attachment, an address, a provider, a receipt, a survey; an
		// IVR menu and a call; a held mail.
		cust, msg := uuid.New(), uuid.New()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO customers (tenant_id, id, display_name) VALUES ($1, $2, 'Jane')`, []any{cust}},
			{`INSERT INTO customer_identities (tenant_id, kind, value, customer_id) VALUES ($1, 'email', 'jane@example.com', $2)`, []any{cust}},
			{`INSERT INTO contact_messages (tenant_id, contact_id, seq, id, channel, direction, sender, body)
				VALUES ($1, $2, 1, $3, 'email', 'inbound', 'customer', 'Hello')`, []any{contact, msg}},
			{`INSERT INTO contact_attachments (tenant_id, id, contact_id, message_id, filename, content_type, size, data)
				VALUES ($1, gen_random_uuid(), $2, $3, 'a.txt', 'text/plain', 1, '\x00')`, []any{contact, msg}},
			{`INSERT INTO channel_addresses (tenant_id, id, channel, address, queue_id) VALUES ($1, gen_random_uuid(), 'email', 'rls@acme.example', $2)`, []any{queue}},
			{`INSERT INTO channel_providers (tenant_id, provider, secret) VALUES ($1, 'twilio', 'rls-secret')`, nil},
			{`INSERT INTO webhook_receipts (tenant_id, provider, external_id) VALUES ($1, 'twilio', 'SMrls')`, nil},
			{`INSERT INTO csat_surveys (tenant_id, contact_id, channel, customer_id) VALUES ($1, $2, 'chat', $3)`, []any{contact, cust}},
			{`INSERT INTO ivr_menus (tenant_id, id, name, tree) VALUES ($1, gen_random_uuid(), 'Main', '{"prompt":"Hi","options":{}}')`, nil},
			{`INSERT INTO voice_calls (tenant_id, call_sid, from_addr, to_addr) VALUES ($1, 'CArls', '+4930111', '+4930222')`, nil},
			{`INSERT INTO email_held (tenant_id, message_id, rcpt, raw) VALUES ($1, '<rls@example.com>', 'rls@acme.example', '\x00')`, nil},
			{`INSERT INTO conversation_claims (tenant_id, customer_id, channel, contact_id) VALUES ($1, $2, 'sms', $3)`, []any{cust, contact}},
		} {
			if _, err := tx.Exec(c, q.sql, append([]any{r.Tenant.ID}, q.args...)...); err != nil {
				return fmt.Errorf("%s: %w", q.sql[:30], err)
			}
		}
		// Callbacks (00024): a callback on the contact, the retry settings.
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO callbacks (tenant_id, contact_id, to_number, max_attempts, retry_delay_seconds) VALUES ($1, $2, '+4930111222', 3, 120)`, []any{contact}},
			{`INSERT INTO callback_settings (tenant_id, max_attempts, retry_delay_seconds) VALUES ($1, 3, 120)`, nil},
		} {
			if _, err := tx.Exec(c, q.sql, append([]any{r.Tenant.ID}, q.args...)...); err != nil {
				return fmt.Errorf("%s: %w", q.sql[:30], err)
			}
		}
		// Chargeback's tables: a report with one stored file.
		report := uuid.New()
		for _, q := range []string{
			`INSERT INTO reports (tenant_id, id, trigger, period_from, period_to, dimension, currency, expires_at)
				VALUES ($1, $2, 'request', '2026-01-01', '2026-02-01', 'cost_centre', 'EUR', now() + interval '1 day')`,
			`INSERT INTO report_files (tenant_id, report_id, format, encoding) VALUES ($1, $2, 'csv', 'gzip')`,
			`INSERT INTO report_chunks (tenant_id, report_id, format, seq, data) VALUES ($1, $2, 'csv', 0, '\x00')`,
		} {
			if _, err := tx.Exec(c, q, r.Tenant.ID, report); err != nil {
				return fmt.Errorf("%s: %w", q[:30], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = uuid.Nil
}
