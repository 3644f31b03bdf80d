package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"

	cic "github.com/cic-platform/cic"
)

// statusOf is the one mapping from domain error kinds to HTTP statuses.
func statusOf(k cic.Kind) int {
	switch k {
	case cic.EINVALID:
		return http.StatusBadRequest
	case cic.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case cic.EFORBIDDEN:
		return http.StatusForbidden
	case cic.ENOTFOUND:
		return http.StatusNotFound
	case cic.ECONFLICT:
		return http.StatusConflict
	case cic.ERATELIMIT:
		return http.StatusTooManyRequests
	case cic.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the JSON every API error answers with.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// classify turns any error into (status, code, message) safe to show.
// Fiber's own errors (404 route, 413 body, 405) keep their status.
func classify(err error) (int, string, string) {
	if e, ok := cic.AsError(err); ok {
		st := statusOf(e.Kind)
		if st == http.StatusInternalServerError {
			return st, "internal", "Something went wrong on our side; it has been logged."
		}
		return st, e.Code, e.Message
	}
	if isDataException(err) {
		return http.StatusBadRequest, "invalid_input", "A value is out of range or is not valid text."
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			return fe.Code, "body_too_large", "The request body is too large."
		case fiber.StatusNotFound:
			return fe.Code, "not_found", "There is nothing here."
		case fiber.StatusMethodNotAllowed:
			return fe.Code, "method_not_allowed", "This method is not allowed here."
		case fiber.StatusForbidden:
			return fe.Code, "forbidden", "The form has expired or did not come from this site; reload the page and try again."
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return fe.Code, strings.ToLower(strings.ReplaceAll(http.StatusText(fe.Code), " ", "_")), fe.Message
		}
	}
	return http.StatusInternalServerError, "internal", "Something went wrong on our side; it has been logged."
}

// handleError is Fiber's ErrorHandler: every error a handler returns ends
// here, as JSON for the API and as an error page for the browser.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	st, code, msg := classify(err)
	if isDataException(err) {
		// A value the edge should have refused (decode.go); logged so the
		// check is added where it belongs.
		s.log.WarnContext(c.UserContext(), "data exception answered 400", "err", err,
			"method", c.Method(), "path", c.Path(), "request_id", requestIDOf(c))
	}
	if st >= 500 {
		s.log.ErrorContext(c.UserContext(), "request failed", "err", err,
			"method", c.Method(), "path", c.Path(), "request_id", requestIDOf(c))
	}
	if isAPI(c) || !acceptsHTML(c) {
		return c.Status(st).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
	}
	return s.renderStatus(c, st, "error", pageData{Title: http.StatusText(st), Error: msg})
}

func isAPI(c *fiber.Ctx) bool {
	p := c.Path()
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

func acceptsHTML(c *fiber.Ctx) bool {
	return strings.Contains(c.Get(fiber.HeaderAccept), "text/html")
}

func (s *Server) apiNotFound(c *fiber.Ctx) error {
	return cic.Codef(cic.ENOTFOUND, "not_found", "No such API route: %s %s.", c.Method(), c.Path())
}

func (s *Server) notFound(c *fiber.Ctx) error {
	return fiber.ErrNotFound
}

// isDataException: PostgreSQL refused a value (SQLSTATE class 22: out of
// range, not valid text, bad date). Such a value comes from the request;
// it is the client's mistake, never a 500.
func isDataException(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22")
}
