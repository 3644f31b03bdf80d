package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// A Calendar holds a tenant's holidays and exceptions: dates on which the
// queues that follow it are closed all day or open other hours than their
// weekly business hours. Queues share calendars; a queue follows at most
// one. An entry's date and times are read in the queue's time zone.
type Calendar struct {
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Entries   []CalendarEntry `json:"entries"` // by date
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// CalendarEntry is one date's exception: Closed all day, or open from
// Opens to Closes (HH:MM, Closes later) instead of the weekly hours.
type CalendarEntry struct {
	Date   string `json:"date"` // YYYY-MM-DD
	Closed bool   `json:"closed"`
	Opens  string `json:"opens,omitempty"`
	Closes string `json:"closes,omitempty"`
	Note   string `json:"note"` // e.g. "Christmas Eve"
}

// CalendarInput creates a calendar or replaces its name and/or entries
// (nil keeps them on an update).
type CalendarInput struct {
	Name    *string         `json:"name"`
	Entries []CalendarEntry `json:"entries"`
}

// MaxCalendarEntries bounds a calendar (years of holidays fit easily).
const MaxCalendarEntries = 1000

var errCalendarNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Calendar not found.")

// validateEntries checks the entries: dates YYYY-MM-DD, each once; closed, or
// an opening time HH:MM and a later closing time. It normalises Opens and
// Closes to HH:MM and sorts the entries by date.
func validateEntries(entries []CalendarEntry) error {
	if len(entries) > MaxCalendarEntries {
		return bad("too_many_entries", "A calendar holds at most %d dates.", MaxCalendarEntries)
	}
	seen := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		e.Date = strings.TrimSpace(e.Date)
		d, err := time.Parse(time.DateOnly, e.Date)
		if err != nil || d.Format(time.DateOnly) != e.Date {
			return bad("invalid_date", "%q is not a date: write YYYY-MM-DD, e.g. 2026-12-24.", e.Date)
		}
		if seen[e.Date] {
			return bad("duplicate_date", "%s appears twice; a calendar has one entry per date.", e.Date)
		}
		seen[e.Date] = true
		e.Note = strings.TrimSpace(e.Note)
		if utf8.RuneCountInString(e.Note) > 100 || !utf8.ValidString(e.Note) || strings.ContainsAny(e.Note, "\x00\r\n") {
			return bad("invalid_note", "The note of %s must be at most 100 characters on one line.", e.Date)
		}
		e.Opens, e.Closes = strings.TrimSpace(e.Opens), strings.TrimSpace(e.Closes)
		if e.Closed {
			if e.Opens != "" || e.Closes != "" {
				return bad("invalid_hours", "On %s: a closed day has no opening hours.", e.Date)
			}
			continue
		}
		if e.Opens == "" && e.Closes == "" {
			return bad("invalid_hours", "On %s: say closed, or give an opening and a closing time.", e.Date)
		}
		open, err1 := parseClock(e.Opens)
		closing, err2 := parseClock(e.Closes)
		if err1 != nil || err2 != nil {
			return bad("invalid_time", "On %s the times must be HH:MM, e.g. 09:00.", e.Date)
		}
		if closing <= open {
			return bad("invalid_hours", "On %s the closing time must be after the opening time.", e.Date)
		}
		e.Opens, e.Closes = clock(open), clock(closing)
	}
	slices.SortFunc(entries, func(a, b CalendarEntry) int { return strings.Compare(a.Date, b.Date) })
	return nil
}

func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func (in CalendarInput) apply(c *Calendar) error {
	if in.Name != nil {
		n, err := tenant.ValidateName("name", *in.Name, 100)
		if err != nil {
			return err
		}
		c.Name = n
	}
	if c.Name == "" {
		return bad("missing_name", "Name is required.")
	}
	if in.Entries != nil {
		entries := slices.Clone(in.Entries)
		if err := validateEntries(entries); err != nil {
			return err
		}
		c.Entries = entries
	}
	if c.Entries == nil {
		c.Entries = []CalendarEntry{}
	}
	return nil
}

// CreateCalendar adds a calendar.
func (s *Service) CreateCalendar(ctx context.Context, a tenant.Actor, in CalendarInput) (Calendar, error) {
	if err := requireManager(a); err != nil {
		return Calendar{}, err
	}
	c := Calendar{ID: uuid.New()}
	if err := in.apply(&c); err != nil {
		return Calendar{}, err
	}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if c, err = saveCalendar(ctx, tx, a.TenantID, c, true); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "calendar.create", "calendar", c.ID.String(), map[string]any{"name": c.Name, "entries": len(c.Entries)})
	})
	if err != nil {
		return Calendar{}, err
	}
	return c, nil
}

// UpdateCalendar renames a calendar and/or replaces its entries; the
// queues that follow it follow the new entries at once.
func (s *Service) UpdateCalendar(ctx context.Context, a tenant.Actor, id uuid.UUID, in CalendarInput) (Calendar, error) {
	if err := requireManager(a); err != nil {
		return Calendar{}, err
	}
	var c Calendar
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if c, err = getCalendar(ctx, tx, a.TenantID, id, true); err != nil {
			return err
		}
		if err := in.apply(&c); err != nil {
			return err
		}
		if c, err = saveCalendar(ctx, tx, a.TenantID, c, false); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "calendar.update", "calendar", id.String(), map[string]any{"name": c.Name, "entries": len(c.Entries)})
	})
	if err != nil {
		return Calendar{}, err
	}
	return c, nil
}

// DeleteCalendar removes a calendar no queue follows; one in use is
// ECONFLICT calendar_in_use.
func (s *Service) DeleteCalendar(ctx context.Context, a tenant.Actor, id uuid.UUID) error {
	if err := requireManager(a); err != nil {
		return err
	}
	return s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if _, err := getCalendar(ctx, tx, a.TenantID, id, true); err != nil {
			return err
		}
		var names []string
		rows, err := tx.Query(ctx, `SELECT name FROM queues WHERE tenant_id = $1 AND calendar_id = $2 ORDER BY lower(name)`, a.TenantID, id)
		if err != nil {
			return fmt.Errorf("queues of calendar: %w", err)
		}
		if names, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("queues of calendar: %w", err)
		}
		if len(names) > 0 {
			return cic.Codef(cic.ECONFLICT, "calendar_in_use", "Queue %s follows this calendar; choose another calendar for it first.", strings.Join(names, ", "))
		}
		_, err = tx.Exec(ctx, `DELETE FROM calendars WHERE tenant_id = $1 AND id = $2`, a.TenantID, id)
		if code, _ := pgCode(err); code == "23503" {
			return cic.Codef(cic.ECONFLICT, "calendar_in_use", "A queue follows this calendar; choose another calendar for it first.")
		}
		if err != nil {
			return fmt.Errorf("delete calendar: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "calendar.delete", "calendar", id.String(), nil)
	})
}

// GetCalendar returns one calendar with its entries.
func (s *Service) GetCalendar(ctx context.Context, a tenant.Actor, id uuid.UUID) (Calendar, error) {
	if err := requireViewer(a); err != nil {
		return Calendar{}, err
	}
	var c Calendar
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		c, err = getCalendar(ctx, tx, a.TenantID, id, false)
		return err
	})
	return c, err
}

// ListCalendars returns every calendar of the tenant by name, with
// their entries.
func (s *Service) ListCalendars(ctx context.Context, a tenant.Actor) ([]Calendar, error) {
	if err := requireViewer(a); err != nil {
		return nil, err
	}
	var out []Calendar
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, created_at, updated_at FROM calendars WHERE tenant_id = $1
			ORDER BY lower(name) LIMIT 1000`, a.TenantID)
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, scanCalendar); err != nil {
			return err
		}
		return loadEntries(ctx, tx, a.TenantID, out)
	})
	if err != nil {
		return nil, fmt.Errorf("list calendars: %w", err)
	}
	return out, nil
}

func scanCalendar(r pgx.CollectableRow) (Calendar, error) {
	var c Calendar
	err := r.Scan(&c.ID, &c.Name, &c.CreatedAt, &c.UpdatedAt)
	c.Entries = []CalendarEntry{}
	return c, err
}

func getCalendar(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID, lock bool) (Calendar, error) {
	sql := `SELECT id, name, created_at, updated_at FROM calendars WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, sql, tenantID, id)
	if err != nil {
		return Calendar{}, fmt.Errorf("get calendar: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCalendar)
	if errors.Is(err, pgx.ErrNoRows) {
		return Calendar{}, errCalendarNotFound
	}
	if err != nil {
		return Calendar{}, fmt.Errorf("get calendar: %w", err)
	}
	cs := []Calendar{c}
	if err := loadEntries(ctx, tx, tenantID, cs); err != nil {
		return Calendar{}, err
	}
	return cs[0], nil
}

func loadEntries(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, cs []Calendar) error {
	if len(cs) == 0 {
		return nil
	}
	idx := map[uuid.UUID]int{}
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		idx[c.ID], ids[i] = i, c.ID
	}
	rows, err := tx.Query(ctx, `SELECT calendar_id, to_char(day, 'YYYY-MM-DD'), coalesce(to_char(opens, 'HH24:MI'), ''),
		coalesce(to_char(closes, 'HH24:MI'), ''), note FROM calendar_entries WHERE tenant_id = $1 AND calendar_id = ANY($2)
		ORDER BY day`, tenantID, ids)
	if err != nil {
		return fmt.Errorf("calendar entries: %w", err)
	}
	var cid uuid.UUID
	var e CalendarEntry
	_, err = pgx.ForEachRow(rows, []any{&cid, &e.Date, &e.Opens, &e.Closes, &e.Note}, func() error {
		e.Closed = e.Opens == ""
		i := idx[cid]
		cs[i].Entries = append(cs[i].Entries, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("calendar entries: %w", err)
	}
	return nil
}

func saveCalendar(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, c Calendar, insert bool) (Calendar, error) {
	sql := `UPDATE calendars SET name = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING id, name, created_at, updated_at`
	if insert {
		sql = `INSERT INTO calendars (tenant_id, id, name) VALUES ($1, $2, $3) RETURNING id, name, created_at, updated_at`
	}
	rows, err := tx.Query(ctx, sql, tenantID, c.ID, c.Name)
	if err != nil {
		return Calendar{}, fmt.Errorf("save calendar: %w", err)
	}
	saved, err := pgx.CollectExactlyOneRow(rows, scanCalendar)
	switch code, cn := pgCode(err); {
	case code == "23505" && cn == "calendars_name":
		return Calendar{}, cic.Codef(cic.ECONFLICT, "calendar_exists", "A calendar named %q already exists.", c.Name)
	case errors.Is(err, pgx.ErrNoRows):
		return Calendar{}, errCalendarNotFound
	case err != nil:
		return Calendar{}, fmt.Errorf("save calendar: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM calendar_entries WHERE tenant_id = $1 AND calendar_id = $2`, tenantID, c.ID); err != nil {
		return Calendar{}, fmt.Errorf("save calendar entries: %w", err)
	}
	for _, e := range c.Entries {
		var opens, closes any // null: closed all day
		if !e.Closed {
			opens, closes = e.Opens, e.Closes
		}
		// Text into the time columns: the values are validated HH:MM.
		if _, err := tx.Exec(ctx, `INSERT INTO calendar_entries (tenant_id, calendar_id, day, opens, closes, note)
			VALUES ($1, $2, $3::text::date, $4::text::time, $5::text::time, $6)`, tenantID, c.ID, e.Date, opens, closes, e.Note); err != nil {
			return Calendar{}, fmt.Errorf("save calendar entries: %w", err)
		}
	}
	saved.Entries = c.Entries
	return saved, nil
}

// loadQueueCalendars fills in each queue's CalendarID and Calendar.
func loadQueueCalendars(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, qs []Queue) error {
	if len(qs) == 0 {
		return nil
	}
	idx := map[uuid.UUID]int{}
	ids := make([]uuid.UUID, len(qs))
	for i, q := range qs {
		idx[q.ID], ids[i] = i, q.ID
	}
	rows, err := tx.Query(ctx, `SELECT id, calendar_id FROM queues WHERE tenant_id = $1 AND id = ANY($2) AND calendar_id IS NOT NULL`,
		tenantID, ids)
	if err != nil {
		return fmt.Errorf("queue calendars: %w", err)
	}
	var qid, cid uuid.UUID
	byCal := map[uuid.UUID][]int{}
	if _, err = pgx.ForEachRow(rows, []any{&qid, &cid}, func() error {
		i := idx[qid]
		id := cid
		qs[i].CalendarID = &id
		byCal[cid] = append(byCal[cid], i)
		return nil
	}); err != nil {
		return fmt.Errorf("queue calendars: %w", err)
	}
	if len(byCal) == 0 {
		return nil
	}
	cs := make([]Calendar, 0, len(byCal))
	for id := range byCal {
		cs = append(cs, Calendar{ID: id, Entries: []CalendarEntry{}})
	}
	if err := loadEntries(ctx, tx, tenantID, cs); err != nil {
		return err
	}
	for i := range cs {
		c := &cs[i]
		for _, qi := range byCal[c.ID] {
			qs[qi].Calendar = c
		}
	}
	return nil
}

// saveQueueCalendar sets the queue's calendar, which must be one of the
// tenant's (another tenant's is invalid_calendar, like a missing one).
func saveQueueCalendar(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, q *Queue, calendarID *uuid.UUID) error {
	if calendarID != nil {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM calendars WHERE tenant_id = $1 AND id = $2`, tenantID, *calendarID).Scan(&n); err != nil {
			return fmt.Errorf("queue calendar: %w", err)
		}
		if n == 0 {
			return bad("invalid_calendar", "The calendar does not exist.")
		}
	}
	_, err := tx.Exec(ctx, `UPDATE queues SET calendar_id = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, q.ID, calendarID)
	if code, _ := pgCode(err); code == "23503" {
		return bad("invalid_calendar", "The calendar does not exist.")
	}
	if err != nil {
		return fmt.Errorf("queue calendar: %w", err)
	}
	qs := []Queue{*q}
	qs[0].CalendarID, qs[0].Calendar = nil, nil
	if err := loadQueueCalendars(ctx, tx, tenantID, qs); err != nil {
		return err
	}
	q.CalendarID, q.Calendar = qs[0].CalendarID, qs[0].Calendar
	return nil
}
