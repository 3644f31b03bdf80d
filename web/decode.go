package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// decodeJSON reads exactly one JSON object into v. Unknown fields are
// refused so a typo ("pasword") is an error rather than a silent default.
func decodeJSON(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	body := c.Body()
	switch {
	case ct == "" || strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
	case (strings.HasPrefix(ct, fiber.MIMEApplicationForm) || strings.HasPrefix(ct, fiber.MIMEMultipartForm)) && c.FormValue("json") != "":
		// The pages' scripts post a form, for its CSRF field, with the
		// JSON object in its "json" field.
		body = []byte(c.FormValue("json"))
	default:
		return cic.Codef(cic.EINVALID, "unsupported_media_type", "Send the body as application/json.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return cic.Codef(cic.EINVALID, "invalid_json", "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return cic.Codef(cic.EINVALID, "invalid_json", "The body is not valid JSON for this request: %s.", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return cic.Codef(cic.EINVALID, "invalid_json", "The body must hold a single JSON object.")
	}
	return nil
}

// jsonProblem says what is wrong without echoing the input back.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s", te.Field, te.Type.String())
		}
		return "wrong type, want an object"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	if strings.Contains(err.Error(), "invalid UUID") {
		return "an id is not a valid UUID"
	}
	return "it cannot be read"
}

// paramID reads the :id of a route. A malformed id names nothing, so it
// is a 404 like any other id the caller cannot see.
func paramID(c *fiber.Ctx, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, cic.Codef(cic.ENOTFOUND, "not_found", "No such %s.", what)
	}
	return id, nil
}

// queryLimit reads ?limit=, defaulting to def and capped at max.
func queryLimit(c *fiber.Ctx, def, max int) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, cic.Codef(cic.EINVALID, "invalid_limit", "limit must be a whole number from 1 to %d.", max)
	}
	return n, nil
}
