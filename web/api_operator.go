package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/billing"
)

// The platform operator is not a tenant user: one shared secret,
// OPERATOR_TOKEN, sent as a bearer token to /api/v1/operator/* or typed
// into /operator, which then keeps an HttpOnly cookie derived from it
// (changing the token ends every operator session). Unset, all of it is off.

const cookieOperator = "cic_operator"

var errOperatorOff = cic.Codef(cic.EFORBIDDEN, "operator_disabled", "The operator console is off: set OPERATOR_TOKEN to turn it on.")
var errNotOperator = cic.Codef(cic.EUNAUTHORIZED, "unauthenticated", "Send Authorization: Bearer <OPERATOR_TOKEN>.")

// sameSecret compares in constant time whatever the lengths.
func sameSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func (s *Server) requireOperator(c *fiber.Ctx) error {
	if s.cfg.OperatorToken == "" {
		return errOperatorOff
	}
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !sameSecret(strings.TrimSpace(token), s.cfg.OperatorToken) {
		return errNotOperator
	}
	return c.Next()
}

// operatorSession is the page cookie's value: an HMAC of the token, so
// the cookie is not the token itself.
func (s *Server) operatorSession() string {
	m := hmac.New(sha256.New, []byte(s.cfg.OperatorToken))
	m.Write([]byte("cic operator session"))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) isOperatorPage(c *fiber.Ctx) bool {
	return s.cfg.OperatorToken != "" && sameSecret(c.Cookies(cookieOperator), s.operatorSession())
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
	s.syncCatalogSoon(c)
	cat, err := s.cfg.Billing.ListCatalog(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(cat)
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
