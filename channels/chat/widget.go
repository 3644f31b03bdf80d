package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/tenant"
)

// Widget keys read "cw1.<tenant>.<random>". The key is public (it sits in
// the page's HTML): the random part only makes it unguessable, and the
// tenant in it lets the lookup run inside that tenant's RLS transaction,
// so a key can never reach another tenant's rows.
const widgetKeyPrefix = "cw1"

// Widget is a chat entry point a tenant puts on its web pages.
type Widget struct {
	ID             uuid.UUID  `json:"id"`
	Key            string     `json:"key"`
	Name           string     `json:"name"`
	QueueID        *uuid.UUID `json:"queue_id"`
	AllowedOrigins []string   `json:"allowed_origins"`
	Greeting       string     `json:"greeting"`
	CreatedAt      time.Time  `json:"created_at"`
	RevokedAt      *time.Time `json:"revoked_at"`
	// IdentitySecret signs the e-mail addresses the page vouches for
	// (identity.go); set only in the answer that creates the widget or
	// rotates the secret, never stored or listed.
	IdentitySecret string `json:"identity_secret,omitempty"`
}

// WidgetInput creates a widget.
type WidgetInput struct {
	Name           string    `json:"name"`
	QueueID        uuid.UUID `json:"queue_id"`
	AllowedOrigins []string  `json:"allowed_origins"`
	Greeting       string    `json:"greeting"`
}

const widgetColumns = `id, public_key, name, queue_id, allowed_origins, greeting, created_at, revoked_at`

func scanWidget(row pgx.Row) (Widget, error) {
	var w Widget
	err := row.Scan(&w.ID, &w.Key, &w.Name, &w.QueueID, &w.AllowedOrigins, &w.Greeting, &w.CreatedAt, &w.RevokedAt)
	return w, err
}

var errManagersOnly = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may manage chat widgets.")

// NormalizeOrigin checks that s is exactly an origin, scheme://host[:port]
// with scheme http or https and nothing after, and returns it as browsers
// send it in the Origin header: lower case, without the default port.
func NormalizeOrigin(s string) (string, error) {
	bad := func(why string) (string, error) {
		return "", cic.Codef(cic.EINVALID, "invalid_origin", "%q is not an origin (%s); write it as https://shop.example.com[:port].", s, why)
	}
	if s == "" || len(s) > 300 {
		return bad("empty or too long")
	}
	if strings.Contains(s, "*") {
		return bad("wildcards are not allowed")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("unreadable")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return bad("the scheme must be http or https")
	}
	if u.Opaque != "" || u.User != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/") {
		return bad("only scheme, host and port")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.ContainsAny(host, " %") {
		return bad("no host")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			port = ""
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

func validateWidget(in WidgetInput) (WidgetInput, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		in.Name = "Website"
	}
	if utf8.RuneCountInString(in.Name) > 100 {
		return in, cic.Codef(cic.EINVALID, "invalid_name", "The name is at most 100 characters.")
	}
	if utf8.RuneCountInString(in.Greeting) > 500 || !utf8.ValidString(in.Greeting) {
		return in, cic.Codef(cic.EINVALID, "invalid_greeting", "The greeting is at most 500 characters.")
	}
	if in.QueueID == uuid.Nil {
		return in, cic.Codef(cic.EINVALID, "invalid_queue", "queue_id names the queue the widget's chats go to.")
	}
	var err error
	in.AllowedOrigins, err = normalizeOrigins(in.AllowedOrigins)
	return in, err
}

// normalizeOrigins checks an allow-list: 1 to 20 origins, each
// normalized, duplicates dropped.
func normalizeOrigins(origins []string) ([]string, error) {
	if len(origins) == 0 || len(origins) > 20 {
		return nil, cic.Codef(cic.EINVALID, "invalid_origin", "List from 1 to 20 allowed origins (the sites that carry the widget).")
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range origins {
		n, err := NormalizeOrigin(strings.TrimSpace(o))
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func newWidgetKey(tenantID uuid.UUID) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s.%s.%s", widgetKeyPrefix, tenantID, base64.RawURLEncoding.EncodeToString(b))
}

// parseWidgetKey returns the tenant a key names; ok is false for anything
// that is not shaped like a key.
func parseWidgetKey(key string) (uuid.UUID, bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 || parts[0] != widgetKeyPrefix || len(parts[2]) != 24 {
		return uuid.Nil, false
	}
	t, err := uuid.Parse(parts[1])
	if err != nil || t == uuid.Nil {
		return uuid.Nil, false
	}
	return t, true
}

// CreateWidget makes a widget for a queue of the actor's tenant that
// takes chat contacts; the answer carries its identity secret, once.
func (s *Service) CreateWidget(ctx context.Context, a tenant.Actor, in WidgetInput) (Widget, error) {
	if !a.Role.Manages() {
		return Widget{}, errManagersOnly
	}
	in, err := validateWidget(in)
	if err != nil {
		return Widget{}, err
	}
	q, err := s.Setup.QueueByID(ctx, a.TenantID, in.QueueID)
	if err != nil {
		if cic.ErrorKind(err) == cic.ENOTFOUND {
			return Widget{}, cic.Codef(cic.EINVALID, "invalid_queue", "No such queue.")
		}
		return Widget{}, err
	}
	takesChat := false
	for _, ch := range q.Channels {
		takesChat = takesChat || ch == "chat"
	}
	if !takesChat {
		return Widget{}, cic.Codef(cic.EINVALID, "invalid_queue", "Queue %s does not take chat contacts.", q.Name)
	}
	var w Widget
	salt := newSalt()
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		w, err = scanWidget(tx.QueryRow(ctx, `INSERT INTO chat_widgets (tenant_id, id, public_key, name, queue_id, allowed_origins, greeting, created_by, identity_salt)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+widgetColumns,
			a.TenantID, uuid.New(), newWidgetKey(a.TenantID), in.Name, in.QueueID, in.AllowedOrigins, in.Greeting, a.UserID, salt))
		if err != nil {
			return fmt.Errorf("insert chat widget: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "chat_widget.create", "chat_widget", w.ID.String(),
			map[string]any{"name": w.Name, "queue_id": in.QueueID, "allowed_origins": w.AllowedOrigins})
	})
	if err == nil {
		w.IdentitySecret = s.identitySecret(w.ID, salt)
	}
	return w, err
}

// ListWidgets lists the tenant's widgets, newest first, revoked included.
func (s *Service) ListWidgets(ctx context.Context, a tenant.Actor) ([]Widget, error) {
	if !a.Role.Manages() {
		return nil, errManagersOnly
	}
	out := []Widget{}
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+widgetColumns+` FROM chat_widgets WHERE tenant_id = $1 ORDER BY created_at DESC, id`, a.TenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Widget, error) { return scanWidget(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list chat widgets: %w", err)
	}
	return out, nil
}

// SetWidgetOrigins replaces the allow-list of a live widget: from the
// next call on, only these sites may use it. A revoked widget stays
// revoked (ECONFLICT).
func (s *Service) SetWidgetOrigins(ctx context.Context, a tenant.Actor, id uuid.UUID, origins []string) (Widget, error) {
	if !a.Role.Manages() {
		return Widget{}, errManagersOnly
	}
	origins, err := normalizeOrigins(origins)
	if err != nil {
		return Widget{}, err
	}
	var w Widget
	err = s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var before []string
		var revoked bool
		err := tx.QueryRow(ctx, `SELECT allowed_origins, revoked_at IS NOT NULL FROM chat_widgets WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
			a.TenantID, id).Scan(&before, &revoked)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errWidgetNotFound
		case err != nil:
			return fmt.Errorf("chat widget: %w", err)
		case revoked:
			return cic.Codef(cic.ECONFLICT, "widget_revoked", "This chat widget is revoked; create a new one.")
		}
		w, err = scanWidget(tx.QueryRow(ctx, `UPDATE chat_widgets SET allowed_origins = $3 WHERE tenant_id = $1 AND id = $2 RETURNING `+widgetColumns,
			a.TenantID, id, origins))
		if err != nil {
			return fmt.Errorf("update chat widget: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "chat_widget.origins", "chat_widget", id.String(),
			map[string]any{"before": before, "allowed_origins": origins})
	})
	return w, err
}

var errWidgetNotFound = cic.Codef(cic.ENOTFOUND, "not_found", "No such chat widget.")

// RevokeWidget stops a widget at once: no new chats, and the visitors of
// its open chats are refused at their next connection. Revoking twice is
// harmless.
func (s *Service) RevokeWidget(ctx context.Context, a tenant.Actor, id uuid.UUID) (Widget, error) {
	if !a.Role.Manages() {
		return Widget{}, errManagersOnly
	}
	var w Widget
	err := s.DB.Tx(ctx, a.TenantID, func(tx pgx.Tx) error {
		var err error
		w, err = scanWidget(tx.QueryRow(ctx, `UPDATE chat_widgets SET revoked_at = coalesce(revoked_at, now())
			WHERE tenant_id = $1 AND id = $2 RETURNING `+widgetColumns, a.TenantID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errWidgetNotFound
		}
		if err != nil {
			return fmt.Errorf("revoke chat widget: %w", err)
		}
		return tenant.Audit(ctx, tx, a, "chat_widget.revoke", "chat_widget", id.String(), nil)
	})
	return w, err
}

var (
	errBadKey    = cic.Codef(cic.EFORBIDDEN, "invalid_widget_key", "This chat widget key is invalid or revoked.")
	errBadOrigin = cic.Codef(cic.EFORBIDDEN, "origin_not_allowed", "This chat widget may not be used on this site.")
)

// allows reports whether origin (as the browser sent it) is on the list.
func (w Widget) allows(origin string) bool {
	n, err := NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	for _, o := range w.AllowedOrigins {
		if o == n {
			return true
		}
	}
	return false
}

// WidgetFor returns the live widget of key if origin may use it: the
// check of every public chat call (the CORS preflight included). A
// revoked or unknown key, or an origin off the list, is EFORBIDDEN.
func (s *Service) WidgetFor(ctx context.Context, key, origin string) (uuid.UUID, Widget, error) {
	tenantID, ok := parseWidgetKey(key)
	if !ok {
		return uuid.Nil, Widget{}, errBadKey
	}
	var w Widget
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		w, err = scanWidget(tx.QueryRow(ctx, `SELECT `+prefixed("w.", widgetColumns)+` FROM chat_widgets w
			JOIN tenants t ON t.tenant_id = w.tenant_id
			WHERE w.tenant_id = $1 AND w.public_key = $2 AND w.revoked_at IS NULL AND t.status = 'active'`, tenantID, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return errBadKey
		}
		return err
	})
	if err != nil {
		return uuid.Nil, Widget{}, err
	}
	if !w.allows(origin) {
		return uuid.Nil, Widget{}, errBadOrigin
	}
	return tenantID, w, nil
}

// prefixed qualifies a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
