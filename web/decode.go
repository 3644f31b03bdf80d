package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
)

// decodeJSON reads exactly one JSON object into v. Unknown fields are
// refused so a typo ("pasword") is an error rather than a silent default.
func decodeJSON(c *fiber.Ctx, v any) error {
	if decodeHook != nil {
		decodeHook(c, v)
	}
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
	if !utf8.Valid(body) {
		// encoding/json would quietly turn the bad bytes into U+FFFD.
		return errInvalidText
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return cic.Codef(cic.EINVALID, "invalid_json", "The body is not valid JSON for this request: %s.", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return cic.Codef(cic.EINVALID, "invalid_json", "The body must hold a single JSON object.")
	}
	// "\u0000" decodes to a NUL, which no text column stores.
	if !textOK(reflect.ValueOf(v), 0) {
		return errInvalidText
	}
	return nil
}

var errInvalidText = cic.Codef(cic.EINVALID, "invalid_text", "Text must be valid UTF-8 without NUL characters.")

// validText: valid UTF-8 without NUL, what PostgreSQL's text stores.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// textOK walks a decoded value: every string in it is valid text.
// Depth is bounded by what the JSON decoder accepted; the guard is for
// cyclic pointers a handler's type could hold.
func textOK(v reflect.Value, depth int) bool {
	if depth > 64 {
		return true
	}
	switch v.Kind() {
	case reflect.String:
		return validText(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || textOK(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !textOK(v.Field(i), depth+1) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true // bytes (json.RawMessage): checked by utf8.Valid above
		}
		for i := range v.Len() {
			if !textOK(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if !textOK(it.Key(), depth+1) || !textOK(it.Value(), depth+1) {
				return false
			}
		}
	}
	return true
}

// refuseBadText answers 400 to a path, query or form value that is not
// valid text: handlers pass them to PostgreSQL, which refuses NUL and
// broken UTF-8 with an error that would otherwise be a 500.
func (s *Server) refuseBadText(c *fiber.Ctx) error {
	if strings.HasPrefix(c.Path(), "/webhooks/") {
		// A provider's webhook is judged by its signature first (403) and
		// its values by its handler (FuzzVoiceWebhook and friends).
		return c.Next()
	}
	if !validText(c.Path()) {
		return errInvalidText
	}
	ok := true
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		ok = ok && validText(string(k)) && validText(string(v))
	})
	if ct := strings.ToLower(c.Get(fiber.HeaderContentType)); ok && strings.HasPrefix(ct, fiber.MIMEApplicationForm) {
		c.Request().PostArgs().VisitAll(func(k, v []byte) {
			ok = ok && validText(string(k)) && validText(string(v))
		})
	}
	if !ok {
		return errInvalidText
	}
	return c.Next()
}

// cleanText makes header text storable: broken UTF-8 and NUL dropped,
// cut to at most max bytes on a character boundary.
func cleanText(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// decodeHook, set only by tests (export_test.go), learns which type each
// route decodes its body into: the route-walking fuzz test builds hostile
// bodies of that shape.
var decodeHook func(c *fiber.Ctx, v any)

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
