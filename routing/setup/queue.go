package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Strategies a queue may pick its agent by.
var Strategies = []string{"longest_idle", "best_skill", "round_robin", "least_occupied"}

// Requirement is a skill a queue requires, at a minimum level.
type Requirement struct {
	SkillID  uuid.UUID `json:"skill_id"`
	MinLevel int       `json:"min_level"`
}

// Queue is where contacts wait for an agent.
type Queue struct {
	ID           uuid.UUID      `json:"id"`
	Name         string         `json:"name"`
	Channels     []string       `json:"channels"`
	Skills       []Requirement  `json:"skills"`
	Priority     int            `json:"priority"`
	Strategy     string         `json:"strategy"`
	SLPercent    int            `json:"sl_percent"`
	SLSeconds    int            `json:"sl_seconds"`
	RelaxAfter   *int           `json:"relax_after_seconds"`
	OfferTimeout int            `json:"offer_timeout_seconds"`
	MaxMisses    int            `json:"max_misses"`
	MaxWait      *int           `json:"max_wait_seconds"`
	OverflowID   *uuid.UUID     `json:"overflow_queue_id"`
	CostCentre   string         `json:"cost_centre"`
	Hours        *BusinessHours `json:"business_hours"`
	ClosedMsg    string         `json:"closed_message"`
	// ReofferAfter: the agent that missed a contact is offered it again
	// after this long, when no other agent is eligible (0–3600, default 10).
	ReofferAfter int `json:"reoffer_after_seconds"`
	// PreferredAgent: a returning customer's contact waits this long for
	// the agent who last handled them (0: never).
	PreferredAgent int `json:"preferred_agent_seconds"`
	// SkillSteps widen the skill requirements with the wait.
	SkillSteps []SkillStep `json:"skill_steps"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	// CalendarID names the calendar of holidays and exceptions the queue
	// follows (nil: none); Calendar is it, loaded for OpenAt.
	CalendarID *uuid.UUID `json:"calendar_id"`
	Calendar   *Calendar  `json:"-"`
	// AnnounceEvery: a waiting caller hears their position and expected
	// wait this often, in seconds (0: never).
	AnnounceEvery int `json:"announce_every_seconds"`
}

// QueueInput creates a queue or replaces its settings; fields left nil
// take the defaults (create) or keep their value (update).
type QueueInput struct {
	Name         *string         `json:"name"`
	Channels     []string        `json:"channels"`
	Skills       []Requirement   `json:"skills"`
	Priority     *int            `json:"priority"`
	Strategy     *string         `json:"strategy"`
	SLPercent    *int            `json:"sl_percent"`
	SLSeconds    *int            `json:"sl_seconds"`
	RelaxAfter   *int            `json:"relax_after_seconds"`
	OfferTimeout *int            `json:"offer_timeout_seconds"`
	MaxMisses    *int            `json:"max_misses"`
	MaxWait      *int            `json:"max_wait_seconds"`
	OverflowID   *uuid.UUID      `json:"overflow_queue_id"`
	CostCentre   *string         `json:"cost_centre"`
	Hours        *BusinessHours  `json:"business_hours"`
	ClosedMsg    *string         `json:"closed_message"`
	CalendarID   *uuid.UUID      `json:"calendar_id"`
	Clear        map[string]bool `json:"clear"` // e.g. {"business_hours": true} drops an optional setting

	AnnounceEvery  *int        `json:"announce_every_seconds"`
	ReofferAfter   *int        `json:"reoffer_after_seconds"`
	PreferredAgent *int        `json:"preferred_agent_seconds"`
	SkillSteps     []SkillStep `json:"skill_steps"` // nil keeps them, [] clears them
}

// SkillStep caps every required skill's minimum at MinLevel (0: none
// required) for a contact that has waited AfterSeconds. Steps come in
// order of time, each to a lower level; relax_after_seconds is the step
// to level 0 (give it or such a step, not both).
type SkillStep struct {
	AfterSeconds int `json:"after_seconds"`
	MinLevel     int `json:"min_level"`
}

// MaxSkillSteps bounds a queue's skill steps.
const MaxSkillSteps = 10

// checkSteps checks a queue's skill steps against its relax time.
func checkSteps(steps []SkillStep, relax *int) error {
	bad := func(msg string) error { return bad("invalid_skill_steps", "%s", msg) }
	if len(steps) > MaxSkillSteps {
		return bad(fmt.Sprintf("At most %d skill steps.", MaxSkillSteps))
	}
	for i, st := range steps {
		if st.AfterSeconds < 1 || st.AfterSeconds > 86400 || st.MinLevel < 0 || st.MinLevel > 9 {
			return bad("Each skill step comes after 1 to 86400 seconds, to a minimum level from 0 (any agent) to 9.")
		}
		if i > 0 && (st.AfterSeconds <= steps[i-1].AfterSeconds || st.MinLevel >= steps[i-1].MinLevel) {
			return bad("Skill steps come in order of time, each to a lower level than the one before.")
		}
		if relax != nil && (st.MinLevel == 0 || st.AfterSeconds >= *relax) {
			return bad("relax_after_seconds is the step to level 0: it comes after every skill step, and not with a step to level 0.")
		}
	}
	return nil
}

func newQueueDefaults() Queue {
	return Queue{Priority: 0, Strategy: "longest_idle", SLPercent: 80, SLSeconds: 20, OfferTimeout: 20, MaxMisses: 3, Skills: []Requirement{},
		AnnounceEvery: 60, ReofferAfter: 10, SkillSteps: []SkillStep{}}
}

func bad(code, format string, args ...any) error {
	return cic.Codef(cic.EINVALID, code, format, args...)
}

func between(v *int, lo, hi int, code, what string) error {
	if v != nil && (*v < lo || *v > hi) {
		return bad(code, "%s must be between %d and %d.", what, lo, hi)
	}
	return nil
}

// apply writes in over q and validates the result.
func (in QueueInput) apply(q *Queue) error {
	if in.Name != nil {
		n, err := tenant.ValidateName("name", *in.Name, 100)
		if err != nil {
			return err
		}
		q.Name = n
	}
	if q.Name == "" {
		return bad("missing_name", "Name is required.")
	}
	if in.Channels != nil {
		q.Channels = in.Channels
	}
	if len(q.Channels) == 0 {
		return bad("invalid_channels", "A queue serves at least one channel: %s.", strings.Join(Channels, ", "))
	}
	seen := map[string]bool{}
	for _, c := range q.Channels {
		if !validChannel(c) || seen[c] {
			return bad("invalid_channels", "Channels must be distinct, among %s.", strings.Join(Channels, ", "))
		}
		seen[c] = true
	}
	if in.Skills != nil {
		q.Skills = in.Skills
	}
	skills := map[uuid.UUID]bool{}
	for _, r := range q.Skills {
		if r.MinLevel < 1 || r.MinLevel > 10 || skills[r.SkillID] || r.SkillID == uuid.Nil {
			return bad("invalid_skills", "Each required skill appears once, with a min_level from 1 to 10.")
		}
		skills[r.SkillID] = true
	}
	for _, c := range []error{
		between(in.Priority, 0, 100, "invalid_priority", "Priority"),
		between(in.SLPercent, 1, 100, "invalid_service_level", "sl_percent"),
		between(in.SLSeconds, 1, 86400, "invalid_service_level", "sl_seconds"),
		between(in.RelaxAfter, 1, 86400, "invalid_relax_after", "relax_after_seconds"),
		between(in.OfferTimeout, 5, 600, "invalid_offer_timeout", "offer_timeout_seconds"),
		between(in.MaxMisses, 1, 100, "invalid_max_misses", "max_misses"),
		between(in.MaxWait, 1, 86400, "invalid_max_wait", "max_wait_seconds"),
		between(in.AnnounceEvery, 0, 3600, "invalid_announce_every", "announce_every_seconds"),
		between(in.ReofferAfter, 0, 3600, "invalid_reoffer_after", "reoffer_after_seconds"),
		between(in.PreferredAgent, 0, 3600, "invalid_preferred_agent", "preferred_agent_seconds"),
	} {
		if c != nil {
			return c
		}
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&q.Priority, in.Priority)
	set(&q.SLPercent, in.SLPercent)
	set(&q.SLSeconds, in.SLSeconds)
	set(&q.OfferTimeout, in.OfferTimeout)
	set(&q.MaxMisses, in.MaxMisses)
	set(&q.AnnounceEvery, in.AnnounceEvery)
	set(&q.ReofferAfter, in.ReofferAfter)
	set(&q.PreferredAgent, in.PreferredAgent)
	if in.SkillSteps != nil {
		q.SkillSteps = in.SkillSteps
	}
	if in.RelaxAfter != nil {
		q.RelaxAfter = in.RelaxAfter
	}
	if in.MaxWait != nil {
		q.MaxWait = in.MaxWait
	}
	if in.Strategy != nil {
		if !slices.Contains(Strategies, *in.Strategy) {
			return bad("invalid_strategy", "Strategy must be one of %s.", strings.Join(Strategies, ", "))
		}
		q.Strategy = *in.Strategy
	}
	if in.OverflowID != nil {
		if *in.OverflowID == q.ID {
			return bad("invalid_overflow", "A queue cannot overflow into itself.")
		}
		q.OverflowID = in.OverflowID
	}
	if in.CostCentre != nil {
		cc := strings.TrimSpace(*in.CostCentre)
		if len(cc) > 50 || strings.ContainsAny(cc, "\x00\r\n") {
			return bad("invalid_cost_centre", "Cost centre must be at most 50 characters on one line.")
		}
		q.CostCentre = cc
	}
	if in.Hours != nil {
		if err := in.Hours.Validate(); err != nil {
			return err
		}
		q.Hours = in.Hours
	}
	if in.ClosedMsg != nil {
		if len(*in.ClosedMsg) > 1000 || strings.ContainsRune(*in.ClosedMsg, 0) {
			return bad("invalid_closed_message", "The closed message is at most 1,000 characters.")
		}
		q.ClosedMsg = *in.ClosedMsg
	}
	if in.CalendarID != nil {
		q.CalendarID, q.Calendar = in.CalendarID, nil
	}
	for k := range in.Clear {
		switch k {
		case "calendar_id":
			q.CalendarID, q.Calendar = nil, nil
		case "business_hours":
			q.Hours = nil
		case "relax_after_seconds":
			q.RelaxAfter = nil
		case "max_wait_seconds":
			q.MaxWait = nil
		case "overflow_queue_id":
			q.OverflowID = nil
		default:
			return bad("invalid_clear", "Only business_hours, relax_after_seconds, max_wait_seconds, overflow_queue_id and calendar_id can be cleared.")
		}
	}
	if q.CalendarID != nil && q.Hours == nil {
		return bad("calendar_needs_hours", "A calendar's dates are read in the queue's time zone: give the queue business hours to follow a calendar.")
	}
	if q.MaxWait != nil && q.OverflowID == nil {
		return bad("invalid_overflow", "A maximum wait needs an overflow queue to send contacts to.")
	}
	if q.SkillSteps == nil {
		q.SkillSteps = []SkillStep{}
	}
	return checkSteps(q.SkillSteps, q.RelaxAfter)
}

var errQueueNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "Queue not found.")

const queueColumns = `id, name, channels, priority, strategy, sl_percent, sl_seconds, relax_after_seconds,
	offer_timeout_seconds, max_misses, max_wait_seconds, overflow_queue_id, cost_centre, business_hours,
	closed_message, created_at, updated_at,
	announce_every_seconds, reoffer_after_seconds, preferred_agent_seconds, skill_steps`

func scanQueue(row pgx.Row) (Queue, error) {
	var q Queue
	var hours, steps []byte
	err := row.Scan(&q.ID, &q.Name, &q.Channels, &q.Priority, &q.Strategy, &q.SLPercent, &q.SLSeconds, &q.RelaxAfter,
		&q.OfferTimeout, &q.MaxMisses, &q.MaxWait, &q.OverflowID, &q.CostCentre, &hours, &q.ClosedMsg, &q.CreatedAt, &q.UpdatedAt,
		&q.AnnounceEvery, &q.ReofferAfter, &q.PreferredAgent, &steps)
	if err != nil {
		return q, err
	}
	q.SkillSteps = []SkillStep{}
	if err := json.Unmarshal(steps, &q.SkillSteps); err != nil {
		return q, fmt.Errorf("skill steps: %w", err)
	}
	if len(hours) > 0 && string(hours) != "null" {
		q.Hours = &BusinessHours{}
		if err := json.Unmarshal(hours, q.Hours); err != nil {
			return q, fmt.Errorf("business hours: %w", err)
		}
	}
	q.Skills = []Requirement{}
	return q, nil
}

func loadRequirements(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, qs []Queue) error {
	if len(qs) == 0 {
		return nil
	}
	idx := map[uuid.UUID]int{}
	ids := make([]uuid.UUID, len(qs))
	for i, q := range qs {
		idx[q.ID], ids[i] = i, q.ID
	}
	rows, err := tx.Query(ctx, `SELECT queue_id, skill_id, min_level FROM queue_skills WHERE tenant_id = $1 AND queue_id = ANY($2)
		ORDER BY skill_id`, tenantID, ids)
	if err != nil {
		return fmt.Errorf("queue skills: %w", err)
	}
	var qid uuid.UUID
	var r Requirement
	_, err = pgx.ForEachRow(rows, []any{&qid, &r.SkillID, &r.MinLevel}, func() error {
		i := idx[qid]
		qs[i].Skills = append(qs[i].Skills, r)
		return nil
	})
	return err
}

func saveQueue(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, q Queue, insert bool) (Queue, error) {
	ids := make([]uuid.UUID, len(q.Skills))
	for i, r := range q.Skills {
		ids[i] = r.SkillID
	}
	if err := skillsExist(ctx, tx, tenantID, ids); err != nil {
		return Queue{}, err
	}
	var hours any
	if q.Hours != nil {
		hours = q.Hours
	}
	sql := `UPDATE queues SET name = $3, channels = $4, priority = $5, strategy = $6, sl_percent = $7, sl_seconds = $8,
			relax_after_seconds = $9, offer_timeout_seconds = $10, max_misses = $11, max_wait_seconds = $12,
			overflow_queue_id = $13, cost_centre = $14, business_hours = $15, closed_message = $16, updated_at = now(),
			announce_every_seconds = $17, reoffer_after_seconds = $18, preferred_agent_seconds = $19, skill_steps = $20
		WHERE tenant_id = $1 AND id = $2 RETURNING ` + queueColumns
	if insert {
		sql = `INSERT INTO queues (tenant_id, id, name, channels, priority, strategy, sl_percent, sl_seconds,
			relax_after_seconds, offer_timeout_seconds, max_misses, max_wait_seconds, overflow_queue_id, cost_centre,
			business_hours, closed_message, announce_every_seconds, reoffer_after_seconds, preferred_agent_seconds, skill_steps)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
			RETURNING ` + queueColumns
	}
	saved, err := scanQueue(tx.QueryRow(ctx, sql, tenantID, q.ID, q.Name, q.Channels, q.Priority, q.Strategy, q.SLPercent,
		q.SLSeconds, q.RelaxAfter, q.OfferTimeout, q.MaxMisses, q.MaxWait, q.OverflowID, q.CostCentre, hours, q.ClosedMsg,
		q.AnnounceEvery, q.ReofferAfter, q.PreferredAgent, q.SkillSteps))
	switch code, c := pgCode(err); {
	case code == "23505" && c == "queues_name":
		return Queue{}, cic.Codef(cic.ECONFLICT, "queue_exists", "A queue named %q already exists.", q.Name)
	case code == "23503":
		return Queue{}, bad("invalid_overflow", "The overflow queue does not exist.")
	case errors.Is(err, pgx.ErrNoRows):
		return Queue{}, errQueueNotFound
	case err != nil:
		return Queue{}, fmt.Errorf("save queue: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM queue_skills WHERE tenant_id = $1 AND queue_id = $2`, tenantID, q.ID); err != nil {
		return Queue{}, fmt.Errorf("save queue skills: %w", err)
	}
	for _, r := range q.Skills {
		if _, err := tx.Exec(ctx, `INSERT INTO queue_skills (tenant_id, queue_id, skill_id, min_level) VALUES ($1, $2, $3, $4)`,
			tenantID, q.ID, r.SkillID, r.MinLevel); err != nil {
			return Queue{}, fmt.Errorf("save queue skills: %w", err)
		}
	}
	saved.Skills = q.Skills
	if err := saveQueueCalendar(ctx, tx, tenantID, &saved, q.CalendarID); err != nil {
		return Queue{}, err
	}
	return saved, nil
}

// CreateQueue adds a queue.
func (s *Service) CreateQueue(ctx context.Context, a tenant.Actor, in QueueInput) (Queue, error) {
	if err := requireManager(a); err != nil {
		return Queue{}, err
	}
	q := newQueueDefaults()
	q.ID = uuid.New()
	if err := in.apply(&q); err != nil {
		return Queue{}, err
	}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if q, err = saveQueue(ctx, tx, a.TenantID, q, true); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "queue.create", "queue", q.ID.String(), map[string]any{"name": q.Name, "channels": q.Channels})
	})
	if err != nil {
		return Queue{}, err
	}
	return q, s.changed(ctx, a.TenantID, "queue", q.ID.String())
}

// UpdateQueue changes the settings given in in.
func (s *Service) UpdateQueue(ctx context.Context, a tenant.Actor, id uuid.UUID, in QueueInput) (Queue, error) {
	if err := requireManager(a); err != nil {
		return Queue{}, err
	}
	var q Queue
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		if q, err = getQueue(ctx, tx, a.TenantID, id, true); err != nil {
			return err
		}
		if err := in.apply(&q); err != nil {
			return err
		}
		if q, err = saveQueue(ctx, tx, a.TenantID, q, false); err != nil {
			return err
		}
		return tenant.Audit(ctx, tx, a, "queue.update", "queue", id.String(), map[string]any{"name": q.Name})
	})
	if err != nil {
		return Queue{}, err
	}
	return q, s.changed(ctx, a.TenantID, "queue", id.String())
}

func getQueue(ctx context.Context, tx pgx.Tx, tenantID, id uuid.UUID, lock bool) (Queue, error) {
	sql := `SELECT ` + queueColumns + ` FROM queues WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	q, err := scanQueue(tx.QueryRow(ctx, sql, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Queue{}, errQueueNotFound
	}
	if err != nil {
		return Queue{}, fmt.Errorf("get queue: %w", err)
	}
	qs := []Queue{q}
	if err := loadRequirements(ctx, tx, tenantID, qs); err != nil {
		return Queue{}, err
	}
	if err := loadQueueCalendars(ctx, tx, tenantID, qs); err != nil {
		return Queue{}, err
	}
	return qs[0], nil
}

// GetQueue returns one queue.
func (s *Service) GetQueue(ctx context.Context, a tenant.Actor, id uuid.UUID) (Queue, error) {
	if err := requireViewer(a); err != nil {
		return Queue{}, err
	}
	var q Queue
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		q, err = getQueue(ctx, tx, a.TenantID, id, false)
		return err
	})
	return q, err
}

// ListQueues returns every queue by name.
func (s *Service) ListQueues(ctx context.Context, a tenant.Actor) ([]Queue, error) {
	if err := requireViewer(a); err != nil {
		return nil, err
	}
	return s.Queues(ctx, a.TenantID)
}

// Queues returns every queue of the tenant, for the engine's sync.
func (s *Service) Queues(ctx context.Context, tenantID uuid.UUID) ([]Queue, error) {
	var out []Queue
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+queueColumns+` FROM queues WHERE tenant_id = $1 ORDER BY lower(name) LIMIT 1000`, tenantID)
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Queue, error) { return scanQueue(r) }); err != nil {
			return err
		}
		if err := loadRequirements(ctx, tx, tenantID, out); err != nil {
			return err
		}
		return loadQueueCalendars(ctx, tx, tenantID, out)
	})
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return out, nil
}

// DeleteQueue removes a queue; its contacts keep their history.
func (s *Service) DeleteQueue(ctx context.Context, a tenant.Actor, id uuid.UUID) error {
	if err := requireManager(a); err != nil {
		return err
	}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE tenant_id = $1 AND queue_id = $2
			AND state IN ('new', 'queued', 'offered', 'accepted', 'wrap_up')`, a.TenantID, id).Scan(&open); err != nil {
			return fmt.Errorf("open contacts: %w", err)
		}
		if open > 0 {
			return cic.Codef(cic.ECONFLICT, "queue_in_use", "%d contacts of this queue are still open; wait until they are closed.", open)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM queues WHERE tenant_id = $1 AND id = $2`, a.TenantID, id)
		if err != nil {
			return fmt.Errorf("delete queue: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return errQueueNotFound
		}
		return tenant.Audit(ctx, tx, a, "queue.delete", "queue", id.String(), nil)
	})
	if err != nil {
		return err
	}
	return s.changed(ctx, a.TenantID, "queue", id.String())
}

// QueueByID returns one queue of the tenant, for the routing engine's
// use (no caller to check: the engine routes on the tenant's behalf).
func (s *Service) QueueByID(ctx context.Context, tenantID, id uuid.UUID) (Queue, error) {
	var q Queue
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		q, err = getQueue(ctx, tx, tenantID, id, false)
		return err
	})
	return q, err
}
