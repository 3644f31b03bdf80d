package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/cic-platform/cic/tenant"
)

// operatorOf is the operator logged in on this request (API token or
// console cookie), once requireOperator or isOperatorPage admitted it.
func operatorOf(c *fiber.Ctx) (tenant.Operator, bool) {
	op, ok := c.Locals(localOperator).(tenant.Operator)
	return op, ok
}

// operatorName is the logged-in operator's name, for audit records; empty
// when no operator is logged in.
func operatorName(c *fiber.Ctx) string {
	op, _ := operatorOf(c)
	return op.Name
}
