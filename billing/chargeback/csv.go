package chargeback

import (
	"encoding/hex"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"
)

// ContactColumns are the per-contact CSV's columns, one line per contact
// metered in the period. FinOps FOCUS names where one fits; our own
// columns start with x_.
//
//	ResourceId            the contact id
//	ResourceType          "Contact"
//	ChargePeriodStart     start of the UTC hour the contact was metered in (RFC 3339)
//	ChargePeriodEnd       end of that hour (exclusive)
//	ChargeCategory        "Usage"
//	PricingCategory       "Committed" (drawn from a prepaid bundle) or "Standard" (overage)
//	CommitmentDiscountId  the prepaid bundle the contact was drawn from; empty for overage
//	ConsumedQuantity      1
//	ConsumedUnit          "Contact"
//	ContractedUnitPrice   exact cost of one contact of its bundle (or the overage price),
//	                      major units, at most 10 decimals
//	BilledCost            what this contact was invoiced: its cost for overage, 0 for a
//	                      bundle contact (the bundle was invoiced when it was bought)
//	EffectiveCost         the contact's allocated cost: whole cents by largest remainder,
//	                      summing to the report total
//	BillingCurrency       ISO 4217
//	x_HandledAt           when the contact was handled (RFC 3339)
//	x_MeteredAt           when it was metered: the time that puts it in the period
//	x_Channel, x_Direction, x_Queue, x_Department, x_Campaign, x_Agent
//	                      the contact's dimensions as metered
//	x_UnitCostMinorExact  exact cost of one contact in minor units, "num/den"
//	x_CostCentre          the allocated cost centre ("unallocated" if none)
//	x_AllocatedBy         which rule chose it: campaign, queue, department or unallocated
//	Tags                  JSON object: the cost centres the allocation chose from
//	                      (queue_cost_centre, department_cost_centre), when set
//
// Text that a spreadsheet would run as a formula (starting with = + - @,
// a tab or a carriage return) is prefixed with an apostrophe.
var ContactColumns = []string{
	"ResourceId", "ResourceType", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "PricingCategory",
	"CommitmentDiscountId", "ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "BilledCost", "EffectiveCost",
	"BillingCurrency", "x_HandledAt", "x_MeteredAt", "x_Channel", "x_Direction", "x_Queue", "x_Department", "x_Campaign",
	"x_Agent", "x_UnitCostMinorExact", "x_CostCentre", "x_AllocatedBy", "Tags",
}

// GroupColumns are the groups CSV's columns. Rows of x_RowType "group"
// are the table; then a "total" row, and "reconciliation" rows: bundle
// value drawn, overage, and their sum, which equals the total.
var GroupColumns = []string{
	"x_RowType", "x_Dimension", "x_Group", "ConsumedQuantity", "EffectiveCost", "BilledCost", "x_CostPerContact",
	"x_SharePercent", "x_PreviousConsumedQuantity", "x_PreviousEffectiveCost", "BillingCurrency", "BillingPeriodStart",
	"BillingPeriodEnd",
}

// Allocation rules, as x_AllocatedBy says.
const (
	ByCampaign    = "campaign"
	ByQueue       = "queue"
	ByDepartment  = "department"
	ByUnallocated = "unallocated"
)

// allocate is the cost centre precedence on the raw fields.
func allocate(campaign, queueCC, deptCC []byte) ([]byte, string) {
	switch {
	case len(campaign) > 0:
		return campaign, ByCampaign
	case len(queueCC) > 0:
		return queueCC, ByQueue
	case len(deptCC) > 0:
		return deptCC, ByDepartment
	}
	return nil, ByUnallocated
}

// csvQuote marks the bytes that make a CSV field need quotes; formula
// the first bytes that make a spreadsheet run a cell as a formula.
var csvQuote, formula [256]bool

func init() {
	for _, c := range ",\"\r\n" {
		csvQuote[c] = true
	}
	for _, c := range "=+-@\t\r" {
		formula[c] = true
	}
}

// appendField appends one CSV field, quoted when it must be, with the
// formula guard for text fields.
func appendField(b []byte, f []byte, text bool) []byte {
	guard := text && len(f) > 0 && formula[f[0]]
	quote := false
	for _, c := range f {
		if csvQuote[c] {
			quote = true
			break
		}
	}
	if !quote {
		if guard {
			b = append(b, '\'')
		}
		return append(b, f...)
	}
	b = append(b, '"')
	if guard {
		b = append(b, '\'')
	}
	for _, c := range f {
		if c == '"' {
			b = append(b, '"', '"')
		} else {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func appendStringField(b []byte, s string, text bool) []byte {
	return appendField(b, []byte(s), text)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s []byte) []byte {
	const hexdigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// appendMinor appends minor units as a major-unit decimal, 2 decimals
// (every currency a tenant may use has two).
func appendMinor(b []byte, m int64) []byte {
	if m < 0 {
		b = append(b, '-')
		m = -m
	}
	b = strconv.AppendInt(b, m/100, 10)
	b = append(b, '.')
	c := m % 100
	return append(b, byte('0'+c/10), byte('0'+c%10))
}

// FormatMinor is minor units as a decimal of major units ("1234.56").
func FormatMinor(m int64) string { return string(appendMinor(nil, m)) }

// unitPrice is one contact's cost in major units: exact when the decimal
// ends, else rounded to 10 decimals, without trailing zeros.
func unitPrice(c Class) string {
	r := new(big.Rat).SetFrac64(c.Num, c.Den)
	r.Quo(r, big.NewRat(100, 1))
	s := r.FloatString(10)
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// exactMinor is one contact's cost in minor units, "num/den" reduced.
func exactMinor(c Class) string {
	r := new(big.Rat).SetFrac64(c.Num, c.Den)
	return r.Num().String() + "/" + r.Denom().String()
}

// pgEpochUnixMicro is PostgreSQL's binary timestamp zero, 2000-01-01 UTC.
const pgEpochUnixMicro = 946684800 * 1_000_000

// appendTime appends a UTC time given in Unix microseconds as RFC 3339,
// fractions of a second without trailing zeros.
func appendTime(b []byte, us int64) []byte {
	t := time.UnixMicro(us).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	if frac := us % 1_000_000; frac != 0 {
		if frac < 0 {
			frac += 1_000_000
		}
		var digits [6]byte
		for i := 5; i >= 0; i-- {
			digits[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 6
		for n > 0 && digits[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, digits[:n]...)
	}
	return append(b, 'Z')
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// appendUUID appends 16 bytes as the canonical 36-character form.
func appendUUID(b []byte, u []byte) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:16])
	return append(b, buf[:]...)
}
