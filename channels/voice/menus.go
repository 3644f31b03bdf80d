package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Menu is a tenant's IVR menu.
type Menu struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Tree      *Node     `json:"tree"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MenuInput is what a manager sends to create or replace a menu.
type MenuInput struct {
	Name string `json:"name"`
	Tree *Node  `json:"tree"`
}

var (
	errMenuNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "IVR menu not found.")
	errNotManager   = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change IVR menus.")
)

func scanMenu(row pgx.Row) (Menu, error) {
	var m Menu
	var raw []byte
	if err := row.Scan(&m.ID, &m.Name, &raw, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return Menu{}, err
	}
	if err := json.Unmarshal(raw, &m.Tree); err != nil {
		return Menu{}, fmt.Errorf("menu %s tree: %w", m.ID, err)
	}
	return m, nil
}

const menuColumns = `id, name, tree, created_at, updated_at`

// Menus lists the tenant's menus (managers only: prompts are setup).
func (s *Service) Menus(ctx context.Context, a tenant.Actor) ([]Menu, error) {
	if !a.Role.Manages() {
		return nil, errNotManager
	}
	out := []Menu{}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+menuColumns+` FROM ivr_menus WHERE tenant_id = $1 ORDER BY name`, a.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Menu, error) { return scanMenu(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ivr menus: %w", err)
	}
	return out, nil
}

// Menu returns one menu.
func (s *Service) Menu(ctx context.Context, a tenant.Actor, id uuid.UUID) (Menu, error) {
	if !a.Role.Manages() {
		return Menu{}, errNotManager
	}
	return s.menu(ctx, a.TenantID, id)
}

func (s *Service) menu(ctx context.Context, tenantID, id uuid.UUID) (Menu, error) {
	var m Menu
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		m, err = scanMenu(tx.QueryRow(ctx, `SELECT `+menuColumns+` FROM ivr_menus WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Menu{}, errMenuNotFound
	}
	return m, err
}

// ValidateMenu checks a menu as CreateMenu would, without saving it (the
// editor's live validation).
func (s *Service) ValidateMenu(ctx context.Context, a tenant.Actor, in MenuInput) error {
	if !a.Role.Manages() {
		return errNotManager
	}
	return s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error { return checkMenu(ctx, tx, a.TenantID, in) })
}

func checkMenu(ctx context.Context, tx pgx.Tx, tenantID uuid.UUID, in MenuInput) error {
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 100 {
		return cic.Codef(cic.EINVALID, "invalid_name", "A menu's name is 1 to 100 characters.")
	}
	if raw, err := json.Marshal(in.Tree); err != nil || len(raw) > MaxMenuBytes {
		return errMenuTooLarge(fmt.Sprintf("at most %d KB as JSON", MaxMenuBytes>>10))
	}
	var qerr error
	seen := map[uuid.UUID][2]bool{} // each queue is looked up once
	check := func(id uuid.UUID) (bool, bool) {
		if q, ok := seen[id]; ok {
			return q[0], q[1]
		}
		var voice *bool
		err := tx.QueryRow(ctx, `SELECT 'voice' = ANY(channels) FROM queues WHERE tenant_id = $1 AND id = $2`, tenantID, id).Scan(&voice)
		if err != nil {
			if !errors.Is(err, pgx.ErrNoRows) {
				qerr = err
			}
			return false, false
		}
		seen[id] = [2]bool{true, voice != nil && *voice}
		return true, voice != nil && *voice
	}
	err := Validate(in.Tree, check)
	if qerr != nil {
		return fmt.Errorf("check menu queues: %w", qerr)
	}
	return err
}

func nameTaken(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// CreateMenu saves a new menu after validating its whole tree.
func (s *Service) CreateMenu(ctx context.Context, a tenant.Actor, in MenuInput) (Menu, error) {
	if !a.Role.Manages() {
		return Menu{}, errNotManager
	}
	var m Menu
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if err := checkMenu(ctx, tx, a.TenantID, in); err != nil {
			return err
		}
		tree, err := json.Marshal(in.Tree)
		if err != nil {
			return err
		}
		m, err = scanMenu(tx.QueryRow(ctx, `INSERT INTO ivr_menus (tenant_id, id, name, tree) VALUES ($1, $2, $3, $4)
			RETURNING `+menuColumns, a.TenantID, uuid.New(), strings.TrimSpace(in.Name), tree))
		if nameTaken(err) {
			return cic.Codef(cic.ECONFLICT, "name_taken", "A menu named %q exists already.", strings.TrimSpace(in.Name))
		}
		if err != nil {
			return fmt.Errorf("create menu: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "ivr.menu_create", "ivr_menu", m.ID.String(), map[string]any{"name": m.Name})
	})
	return m, err
}

// UpdateMenu replaces a menu's name and tree; calls already in it carry
// on from the new tree (a step that no longer exists starts over).
func (s *Service) UpdateMenu(ctx context.Context, a tenant.Actor, id uuid.UUID, in MenuInput) (Menu, error) {
	if !a.Role.Manages() {
		return Menu{}, errNotManager
	}
	var m Menu
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		if err := checkMenu(ctx, tx, a.TenantID, in); err != nil {
			return err
		}
		tree, err := json.Marshal(in.Tree)
		if err != nil {
			return err
		}
		m, err = scanMenu(tx.QueryRow(ctx, `UPDATE ivr_menus SET name = $3, tree = $4, updated_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING `+menuColumns, a.TenantID, id, strings.TrimSpace(in.Name), tree))
		if errors.Is(err, pgx.ErrNoRows) {
			return errMenuNotFound
		}
		if nameTaken(err) {
			return cic.Codef(cic.ECONFLICT, "name_taken", "A menu named %q exists already.", strings.TrimSpace(in.Name))
		}
		if err != nil {
			return fmt.Errorf("update menu: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "ivr.menu_update", "ivr_menu", m.ID.String(), map[string]any{"name": m.Name})
	})
	return m, err
}

// DeleteMenu removes a menu no number leads to any more.
func (s *Service) DeleteMenu(ctx context.Context, a tenant.Actor, id uuid.UUID) error {
	if !a.Role.Manages() {
		return errNotManager
	}
	return s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM channel_addresses WHERE tenant_id = $1 AND ivr_menu_id = $2`, a.TenantID, id).Scan(&n); err != nil {
			return err
		}
		var name string
		err := tx.QueryRow(ctx, `SELECT name FROM ivr_menus WHERE tenant_id = $1 AND id = $2`, a.TenantID, id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return errMenuNotFound
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return cic.Codef(cic.ECONFLICT, "menu_in_use", "%d phone number(s) lead to this menu; point them elsewhere first.", n)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ivr_menus WHERE tenant_id = $1 AND id = $2`, a.TenantID, id); err != nil {
			return fmt.Errorf("delete menu: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "ivr.menu_delete", "ivr_menu", id.String(), map[string]any{"name": name})
	})
}
