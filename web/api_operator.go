package web

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
	"github.com/cic-platform/cic/tenant"
)

// The platform operators are people with accounts (tenant.Operators):
// POST /api/v1/operator/login with e-mail, password and TOTP code gives a
// short-lived bearer token for /api/v1/operator/*; the /operator console
// keeps a session cookie of its own. A tenant user's token opens neither.

const (
	cookieOperator       = "cic_operator"
	cookieOperatorEnroll = "cic_operator_enroll"
	localOperator        = "operator"
)

var errNotOperator = cic.Codef(cic.EUNAUTHORIZED, "unauthenticated", "Log in as an operator (POST /api/v1/operator/login) and send Authorization: Bearer <token>.")

// requireOperator admits a request with an operator's API token.
func (s *Server) requireOperator(c *fiber.Ctx) error {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errNotOperator
	}
	op, err := s.operators.Authenticate(c.UserContext(), strings.TrimSpace(token), tenant.OperatorAPI)
	if err != nil {
		return err
	}
	c.Locals(localOperator, op)
	return c.Next()
}

// isOperatorPage loads the operator of the console's cookie, if any.
func (s *Server) isOperatorPage(c *fiber.Ctx) bool {
	if _, ok := operatorOf(c); ok {
		return true
	}
	tok := c.Cookies(cookieOperator)
	if tok == "" {
		return false
	}
	op, err := s.operators.Authenticate(c.UserContext(), tok, tenant.OperatorPage)
	if err != nil {
		return false
	}
	c.Locals(localOperator, op)
	return true
}

func (s *Server) apiOperatorLogin(c *fiber.Ctx) error {
	var in tenant.OperatorLogin
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	sess, err := s.operators.Login(c.UserContext(), in, tenant.OperatorAPI, false, clientMeta(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"token": sess.Token, "token_type": "Bearer", "expires_at": sess.ExpiresAt,
		"operator": fiber.Map{"email": sess.Operator.Email, "name": sess.Operator.Name}})
}

func (s *Server) apiOperatorLogout(c *fiber.Ctx) error {
	_, token, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if err := s.operators.Logout(c.UserContext(), strings.TrimSpace(token)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) apiOperatorAudit(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	var before int64
	if v := c.Query("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return cic.Codef(cic.EINVALID, "invalid_cursor", "before must be the id of an audit entry.")
		}
	}
	es, err := s.operators.ListAudit(c.UserContext(), before, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entries": es})
}

// auditOperator records the logged-in operator's edit. The edit has
// committed by then: a failed record is logged, not answered.
func (s *Server) auditOperator(c *fiber.Ctx, action, targetType, targetID string, details map[string]any) {
	op, _ := operatorOf(c)
	if err := s.operators.Audit(c.UserContext(), op, clientMeta(c), action, targetType, targetID, details); err != nil {
		s.log.ErrorContext(c.UserContext(), "operator audit", "err", err, "action", action, "operator", op.Email)
	}
}

func (s *Server) apiOperatorCatalog(c *fiber.Ctx) error {
	cat, err := s.cfg.Billing.ListCatalog(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(cat)
}

func (s *Server) apiOperatorPutTier(c *fiber.Ctx) error {
	var in billing.CatalogTier
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	in.ID = c.Params("tier")
	t, err := s.cfg.Billing.PutTier(c.UserContext(), in)
	if err != nil {
		return err
	}
	s.auditTier(c, t)
	s.syncCatalogSoon(c)
	return c.JSON(t)
}

type seatPriceInput struct {
	PriceMinor int64 `json:"price_minor"`
}

func (s *Server) apiOperatorPutSeatPrice(c *fiber.Ctx) error {
	var in seatPriceInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.cfg.Billing.PutSeatPrice(c.UserContext(), c.Params("currency"), in.PriceMinor); err != nil {
		return err
	}
	s.auditOperator(c, "catalog.seat_price_put", "seat_price", strings.ToUpper(c.Params("currency")), map[string]any{"price_minor": in.PriceMinor})
	s.syncCatalogSoon(c)
	cat, err := s.cfg.Billing.ListCatalog(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(cat)
}

func (s *Server) auditTier(c *fiber.Ctx, t billing.CatalogTier) {
	s.auditOperator(c, "catalog.tier_put", "catalog_tier", t.ID, map[string]any{"name": t.Name, "contacts": t.Contacts,
		"validity_months": t.ValidityMonths, "active": t.Active, "prices": t.Prices})
}

// syncCatalogSoon queues the Stripe sync of an edit; if that fails the
// hourly run does it.
func (s *Server) syncCatalogSoon(c *fiber.Ctx) {
	if s.cfg.Enqueue == nil {
		return
	}
	if _, err := s.cfg.Enqueue.EnqueueContext(c.UserContext(), billing.NewSyncCatalogTask()); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		s.log.WarnContext(c.UserContext(), "enqueue catalogue sync", "err", err)
	}
}

// failedTask is a job that failed: archived (out of retries) or waiting
// for its next retry.
type failedTask struct {
	Queue        string    `json:"queue"`
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	State        string    `json:"state"`
	Payload      string    `json:"payload"`
	LastErr      string    `json:"last_error"`
	LastFailedAt time.Time `json:"last_failed_at"`
	Retried      int       `json:"retried"`
	MaxRetry     int       `json:"max_retry"`
}

// failedTasks lists archived and retrying jobs of every queue.
func (s *Server) failedTasks() ([]failedTask, error) {
	out := []failedTask{}
	if s.cfg.Jobs == nil {
		return out, nil
	}
	queues, err := s.cfg.Jobs.Queues()
	if err != nil {
		return nil, cic.Codef(cic.EUNAVAILABLE, "jobs_unavailable", "The job queue cannot be read now.")
	}
	for _, q := range queues {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){s.cfg.Jobs.ListArchivedTasks, s.cfg.Jobs.ListRetryTasks} {
			infos, err := list(q, asynq.PageSize(100))
			if err != nil {
				return nil, cic.Codef(cic.EUNAVAILABLE, "jobs_unavailable", "The job queue cannot be read now.")
			}
			for _, i := range infos {
				out = append(out, failedTask{Queue: q, ID: i.ID, Type: i.Type, State: i.State.String(), Payload: string(i.Payload),
					LastErr: i.LastErr, LastFailedAt: i.LastFailedAt, Retried: i.Retried, MaxRetry: i.MaxRetry})
			}
		}
	}
	return out, nil
}

func (s *Server) apiOperatorTasks(c *fiber.Ctx) error {
	ts, err := s.failedTasks()
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tasks": ts})
}

func (s *Server) apiOperatorFindings(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 100, 500)
	if err != nil {
		return err
	}
	fs, err := s.cfg.Billing.ListFindings(c.UserContext(), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"findings": fs})
}
