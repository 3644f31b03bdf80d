package chargeback

import (
	"fmt"
	"math/big"
	"sort"
)

// Class is the exact cost of one contact: Num/Den minor units (a bundle's
// price over its size, or the overage price over 1). All contacts of a
// class cost the same, so they have the same fractional cent.
type Class struct {
	Num, Den int64
}

// Rat is the class's cost as an exact rational.
func (c Class) Rat() *big.Rat { return big.NewRat(c.Num, c.Den) }

// floor is the whole minor units of one contact (costs are never negative).
func (c Class) floor() int64 { return c.Num / c.Den }

// Plan is the largest-remainder allocation of a period's total to its
// contacts. The total is the exact sum of the contacts' costs rounded once
// (half up) to minor units. Every contact gets the floor of its cost; the
// cents left over go one each to the contacts with the largest fractional
// parts. Those fractional parts take one value per class, so the plan
// needs only the count of contacts per class: whole fraction groups (all
// classes with the same fractional part) get the extra cent, largest
// fraction first, and in the one group where the cents run out, the first
// Partial contacts in stream order (metering time, then contact id) get it.
// So a plan made from an aggregate query lets one streaming pass give each
// contact its cents, in constant memory, and the lines always sum to Total.
type Plan struct {
	// Exact is the sum of every contact's exact cost.
	Exact *big.Rat
	// Total is Exact rounded half up to minor units.
	Total int64
	// Contacts is how many contacts the plan covers.
	Contacts int64
	// Floors is the sum of the contacts' whole minor units; Total-Floors
	// extra cents are handed out.
	Floors int64
	// Partial contacts, in stream order, of the fraction group PartialFrac
	// get an extra cent; every contact of a group in Full gets one.
	Partial     int64
	PartialFrac *big.Rat

	classes map[Class]classPlan
}

// classPlan says how a class's contacts are rounded.
type classPlan struct {
	floor int64
	// extra: 1 for every contact of the class; partial: the class is in
	// the group whose first Partial contacts get 1.
	extra   int64
	partial bool
	count   int64
}

// RoundHalfUp rounds a non-negative rational to the nearest integer,
// halves up, as metering rounds overage and billing invoices it.
func RoundHalfUp(r *big.Rat) int64 {
	x := new(big.Rat).Add(r, big.NewRat(1, 2))
	return new(big.Int).Quo(x.Num(), x.Denom()).Int64()
}

// NewPlan makes the allocation plan for contacts counted per class.
func NewPlan(counts map[Class]int64) (*Plan, error) {
	p := &Plan{Exact: new(big.Rat), PartialFrac: new(big.Rat), classes: make(map[Class]classPlan, len(counts))}
	type fracGroup struct {
		frac    *big.Rat
		classes []Class
		count   int64
	}
	var groups []*fracGroup
	for c, n := range counts {
		if c.Den <= 0 || c.Num < 0 || n < 0 {
			return nil, fmt.Errorf("plan: bad class %d/%d x %d", c.Num, c.Den, n)
		}
		if n == 0 {
			continue
		}
		p.Exact.Add(p.Exact, new(big.Rat).Mul(c.Rat(), new(big.Rat).SetInt64(n)))
		p.Floors += n * c.floor()
		p.Contacts += n
		p.classes[c] = classPlan{floor: c.floor(), count: n}
		frac := big.NewRat(c.Num%c.Den, c.Den)
		var g *fracGroup
		for _, k := range groups {
			if k.frac.Cmp(frac) == 0 {
				g = k
				break
			}
		}
		if g == nil {
			g = &fracGroup{frac: frac}
			groups = append(groups, g)
		}
		g.classes = append(g.classes, c)
		g.count += n
	}
	p.Total = RoundHalfUp(p.Exact)
	left := p.Total - p.Floors
	// Largest fraction first. Fractions are distinct between groups, so the
	// order is total; zero fractions never need a cent (the cents left are
	// the rounded sum of fractions each below 1, so at most the number of
	// contacts with a non-zero fraction).
	sort.Slice(groups, func(i, j int) bool { return groups[i].frac.Cmp(groups[j].frac) > 0 })
	for _, g := range groups {
		if left <= 0 || g.frac.Sign() == 0 {
			break
		}
		if left >= g.count {
			for _, c := range g.classes {
				cp := p.classes[c]
				cp.extra = 1
				p.classes[c] = cp
			}
			left -= g.count
			continue
		}
		for _, c := range g.classes {
			cp := p.classes[c]
			cp.partial = true
			p.classes[c] = cp
		}
		p.Partial, p.PartialFrac = left, g.frac
		left = 0
	}
	if left != 0 {
		return nil, fmt.Errorf("plan: %d cents left to allocate (total %d, floors %d)", left, p.Total, p.Floors)
	}
	return p, nil
}

// Allocator hands out a plan's cents to contacts in stream order.
type Allocator struct {
	plan        *Plan
	partialLeft int64
	seen        map[Class]int64
	last        Class
	lastPlan    classPlan
	lastOK      bool
}

// Allocator starts a pass over the plan's contacts.
func (p *Plan) Allocator() *Allocator {
	return &Allocator{plan: p, partialLeft: p.Partial, seen: make(map[Class]int64, len(p.classes))}
}

// Next returns the minor units of the next contact of class c in stream
// order. It fails if the stream holds more contacts of c than the plan
// counted (the stream and the aggregate must read the same snapshot).
func (a *Allocator) Next(c Class) (int64, error) {
	if !a.lastOK || c != a.last {
		cp, ok := a.plan.classes[c]
		if !ok {
			return 0, fmt.Errorf("allocate: class %d/%d is not in the plan", c.Num, c.Den)
		}
		a.last, a.lastPlan, a.lastOK = c, cp, true
	}
	n := a.seen[c] + 1
	if n > a.lastPlan.count {
		return 0, fmt.Errorf("allocate: more contacts of class %d/%d than the plan's %d", c.Num, c.Den, a.lastPlan.count)
	}
	a.seen[c] = n
	v := a.lastPlan.floor + a.lastPlan.extra
	if a.lastPlan.partial && a.partialLeft > 0 {
		a.partialLeft--
		v++
	}
	return v, nil
}

// Done checks that the pass saw exactly the plan's contacts.
func (a *Allocator) Done() error {
	for c, cp := range a.plan.classes {
		if a.seen[c] != cp.count {
			return fmt.Errorf("allocate: saw %d contacts of class %d/%d, the plan counted %d", a.seen[c], c.Num, c.Den, cp.count)
		}
	}
	return nil
}
