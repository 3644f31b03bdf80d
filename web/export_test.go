package web

import (
	"reflect"

	"github.com/gofiber/fiber/v2"
)

// ClientAddr is clientAddr, for the parser's table test.
var ClientAddr = clientAddr

// OnDecode tells f the Go type each route decodes its JSON body into
// (method and route pattern, as registered).
func OnDecode(f func(method, route string, t reflect.Type)) {
	if f == nil {
		decodeHook = nil
		return
	}
	decodeHook = func(c *fiber.Ctx, v any) {
		if r := c.Route(); r != nil {
			f(r.Method, r.Path, reflect.TypeOf(v))
		}
	}
}
