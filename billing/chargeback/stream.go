package chargeback

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// period is a tenant's [from, to) by metering time.
type period struct {
	tenantID uuid.UUID
	from, to time.Time
}

const periodWhere = `FROM meter_records WHERE tenant_id = $1 AND metered_at >= $2 AND metered_at < $3`

// streamOrder is the order lines are written and partial cents handed
// out in: metering time, then contact id byte by byte (whatever the
// database's collation), served by the (tenant_id, metered_at) index.
const streamOrder = ` ORDER BY metered_at, contact_id COLLATE "C"`

// streamColumns are read per contact; keep in step with the indexes
// below.
const streamColumns = `contact_id, handled_at, metered_at, channel, direction, queue, department, cost_centre,
	queue_cost_centre, campaign, agent, bundle_id, cost_num, cost_den`

const (
	colContact = iota
	colHandled
	colMetered
	colChannel
	colDirection
	colQueue
	colDepartment
	colCostCentre
	colQueueCC
	colCampaign
	colAgent
	colBundle
	colNum
	colDen
	numColumns
)

// StreamSQL is the query the per-contact CSV is made from, for the raw
// COPY the benchmark compares with.
func StreamSQL() string { return `SELECT ` + streamColumns + ` ` + periodWhere + streamOrder }

// groupKeySQL is the SQL of a dimension's group key; groupKey is the same
// in Go, on a streamed row. The two must agree (a test checks).
func groupKeySQL(d Dimension) string {
	switch d {
	case DimCostCentre:
		return `CASE WHEN campaign <> '' THEN campaign WHEN queue_cost_centre <> '' THEN queue_cost_centre ELSE cost_centre END`
	case DimDepartment:
		return `department`
	case DimQueue:
		return `queue`
	case DimChannel:
		return `channel`
	case DimDirection:
		return `direction`
	case DimCampaign:
		return `campaign`
	case DimAgentTeam:
		return `CASE WHEN agent <> '' THEN department ELSE '' END`
	}
	panic("chargeback: unknown dimension " + string(d))
}

func groupKey(d Dimension, raw [][]byte) []byte {
	switch d {
	case DimCostCentre:
		cc, _ := allocate(raw[colCampaign], raw[colQueueCC], raw[colCostCentre])
		return cc
	case DimDepartment:
		return raw[colDepartment]
	case DimQueue:
		return raw[colQueue]
	case DimChannel:
		return raw[colChannel]
	case DimDirection:
		return raw[colDirection]
	case DimCampaign:
		return raw[colCampaign]
	case DimAgentTeam:
		if len(raw[colAgent]) == 0 {
			return nil
		}
		return raw[colDepartment]
	}
	panic("chargeback: unknown dimension " + string(d))
}

// aggregate is the first pass: contacts per cost class and per bundle.
type aggregate struct {
	classes map[Class]int64
	// bundles: contacts drawn per bundle in the period; overage under uuid.Nil.
	bundles map[uuid.UUID]map[Class]int64
}

func readAggregate(ctx context.Context, tx pgx.Tx, p period) (aggregate, error) {
	a := aggregate{classes: map[Class]int64{}, bundles: map[uuid.UUID]map[Class]int64{}}
	rows, err := tx.Query(ctx, `SELECT coalesce(bundle_id, '00000000-0000-0000-0000-000000000000'), cost_num, cost_den, count(*) `+
		periodWhere+` GROUP BY 1, 2, 3`, p.tenantID, p.from, p.to)
	if err != nil {
		return a, fmt.Errorf("aggregate: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b uuid.UUID
		var c Class
		var n int64
		if err := rows.Scan(&b, &c.Num, &c.Den, &n); err != nil {
			return a, fmt.Errorf("aggregate: %w", err)
		}
		a.classes[c] += n
		if a.bundles[b] == nil {
			a.bundles[b] = map[Class]int64{}
		}
		a.bundles[b][c] += n
	}
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("aggregate: %w", err)
	}
	return a, nil
}

// groupAcc adds up one group's (or bundle's) lines.
type groupAcc struct {
	contacts, cost, billed int64
}

// streamResult is what the streaming pass added up.
type streamResult struct {
	groups  map[string]*groupAcc
	bundles map[uuid.UUID]*groupAcc
	lines   groupAcc
	// overage is the overage lines' cents per calendar month (UTC) of
	// metering, the months billing invoices by.
	overage map[time.Time]int64
}

// streamContacts is the second pass: it writes one CSV line per contact
// in stream order, gives each its cents from the plan, and adds them up
// per group and per bundle. Memory does not grow with the rows: each row
// is decoded from the wire buffer as is (binary timestamps, ids and
// integers; text as bytes) into one reused line buffer. progress gets the
// number of rows done from time to time.
func streamContacts(ctx context.Context, tx pgx.Tx, p period, dim Dimension, currency string, plan *Plan, out io.Writer,
	progress func(int64)) (streamResult, error) {
	res := streamResult{groups: map[string]*groupAcc{}, bundles: map[uuid.UUID]*groupAcc{}, overage: map[time.Time]int64{}}
	w := bufio.NewWriterSize(out, blockSize)
	if _, err := w.WriteString(strings.Join(ContactColumns, ",") + "\r\n"); err != nil {
		return res, err
	}
	rows, err := tx.Query(ctx, StreamSQL(), p.tenantID, p.from, p.to)
	if err != nil {
		return res, fmt.Errorf("stream contacts: %w", err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	if len(fds) != numColumns {
		return res, fmt.Errorf("stream contacts: %d columns", len(fds))
	}
	alloc := plan.Allocator()
	var (
		line      []byte
		done      int64
		lastHour  int64 = -1
		hourStart []byte
		hourEnd   []byte
		month     time.Time
		classText = map[Class][2]string{}
		lastClass Class
		lastText  [2]string
		lastB     []byte
		lastAcc   *groupAcc
		lastKey   []byte
		lastGroup *groupAcc
		haveKey   bool
		curr      = []byte(currency)
		tags      []byte
	)
	for rows.Next() {
		raw := rows.RawValues()
		handled, err := readTime(fds[colHandled], raw[colHandled])
		if err != nil {
			return res, err
		}
		metered, err := readTime(fds[colMetered], raw[colMetered])
		if err != nil {
			return res, err
		}
		num, err := readInt(fds[colNum], raw[colNum])
		if err != nil {
			return res, err
		}
		den, err := readInt(fds[colDen], raw[colDen])
		if err != nil {
			return res, err
		}
		c := Class{num, den}
		cents, err := alloc.Next(c)
		if err != nil {
			return res, err
		}
		if c != lastClass || lastText[0] == "" {
			t, ok := classText[c]
			if !ok {
				t = [2]string{unitPrice(c), exactMinor(c)}
				classText[c] = t
			}
			lastClass, lastText = c, t
		}
		bundle := raw[colBundle]
		var billed int64
		if bundle == nil {
			billed = cents
		}

		// Per group and per bundle; rows come in runs, so the last one
		// found is usually the next one too.
		key := groupKey(dim, raw)
		if !haveKey || string(key) != string(lastKey) {
			g := res.groups[string(key)]
			if g == nil {
				g = &groupAcc{}
				res.groups[string(key)] = g
			}
			lastKey, lastGroup, haveKey = append(lastKey[:0], key...), g, true
		}
		lastGroup.contacts++
		lastGroup.cost += cents
		lastGroup.billed += billed
		if lastAcc == nil || string(bundle) != string(lastB) || (bundle == nil) != (lastB == nil) {
			var id uuid.UUID
			if bundle != nil {
				if id, err = readUUID(fds[colBundle], bundle); err != nil {
					return res, err
				}
			}
			a := res.bundles[id]
			if a == nil {
				a = &groupAcc{}
				res.bundles[id] = a
			}
			lastAcc = a
			if bundle == nil {
				lastB = nil
			} else {
				lastB = append(lastB[:0], bundle...)
			}
		}
		lastAcc.contacts++
		lastAcc.cost += cents
		lastAcc.billed += billed
		res.lines.contacts++
		res.lines.cost += cents
		res.lines.billed += billed

		// The line.
		line = line[:0]
		line = appendField(line, raw[colContact], true)
		line = append(line, ",Contact,"...)
		if h := floorDiv(metered, hourMicros); h != lastHour {
			lastHour = h
			hourStart = appendTime(hourStart[:0], h*hourMicros)
			hourEnd = appendTime(hourEnd[:0], (h+1)*hourMicros)
			month = monthOf(time.UnixMicro(h * hourMicros))
		}
		if bundle == nil {
			res.overage[month] += cents
		}
		line = append(line, hourStart...)
		line = append(line, ',')
		line = append(line, hourEnd...)
		line = append(line, ",Usage,"...)
		if bundle == nil {
			line = append(line, "Standard,,"...)
		} else {
			line = append(line, "Committed,"...)
			line = appendUUID(line, bundle)
			line = append(line, ',')
		}
		line = append(line, "1,Contact,"...)
		line = append(line, lastText[0]...)
		line = append(line, ',')
		line = appendMinor(line, billed)
		line = append(line, ',')
		line = appendMinor(line, cents)
		line = append(line, ',')
		line = append(line, curr...)
		line = append(line, ',')
		line = appendTime(line, handled)
		line = append(line, ',')
		line = appendTime(line, metered)
		for _, col := range [...]int{colChannel, colDirection, colQueue, colDepartment, colCampaign, colAgent} {
			line = append(line, ',')
			line = appendField(line, raw[col], true)
		}
		line = append(line, ',')
		line = append(line, lastText[1]...)
		cc, by := allocate(raw[colCampaign], raw[colQueueCC], raw[colCostCentre])
		line = append(line, ',')
		if cc == nil {
			line = append(line, ByUnallocated...)
		} else {
			line = appendField(line, cc, true)
		}
		line = append(line, ',')
		line = append(line, by...)
		line = append(line, ',')
		tags = tags[:0]
		if q, d := raw[colQueueCC], raw[colCostCentre]; len(q) > 0 || len(d) > 0 {
			tags = append(tags, '{')
			if len(q) > 0 {
				tags = append(tags, `"queue_cost_centre":`...)
				tags = appendJSONString(tags, q)
			}
			if len(d) > 0 {
				if len(q) > 0 {
					tags = append(tags, ',')
				}
				tags = append(tags, `"department_cost_centre":`...)
				tags = appendJSONString(tags, d)
			}
			tags = append(tags, '}')
			line = appendField(line, tags, false)
		} else {
			line = append(line, "{}"...)
		}
		line = append(line, '\r', '\n')
		if _, err := w.Write(line); err != nil {
			return res, err
		}
		done++
		if done&1023 == 0 {
			progress(done)
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("stream contacts: %w", err)
	}
	if err := alloc.Done(); err != nil {
		return res, err
	}
	progress(done)
	return res, w.Flush()
}

const hourMicros = int64(time.Hour / time.Microsecond)

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// readTime decodes a timestamptz as Unix microseconds.
func readTime(fd pgconn.FieldDescription, b []byte) (int64, error) {
	if fd.Format == pgx.BinaryFormatCode && len(b) == 8 {
		return int64(binary.BigEndian.Uint64(b)) + pgEpochUnixMicro, nil
	}
	t, err := time.Parse("2006-01-02 15:04:05.999999Z07", string(b))
	if err != nil {
		return 0, fmt.Errorf("stream contacts: %s %q: %w", fd.Name, b, err)
	}
	return t.UnixMicro(), nil
}

func readInt(fd pgconn.FieldDescription, b []byte) (int64, error) {
	if fd.Format == pgx.BinaryFormatCode && len(b) == 8 {
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stream contacts: %s %q: %w", fd.Name, b, err)
	}
	return v, nil
}

func readUUID(fd pgconn.FieldDescription, b []byte) (uuid.UUID, error) {
	if fd.Format == pgx.BinaryFormatCode && len(b) == 16 {
		return uuid.UUID(b), nil
	}
	id, err := uuid.ParseBytes(b)
	if err != nil {
		return id, fmt.Errorf("stream contacts: %s %q: %w", fd.Name, b, err)
	}
	return id, nil
}

// groupCosts gives each group of a period its contacts and cents without
// streaming the rows: per group and cost class from one GROUP BY, plus,
// for the fraction group that gets only some extra cents, which groups
// its first Partial contacts (in stream order) belong to. It is how the
// comparison period is costed; on the same period it agrees with the
// streaming pass, contact for contact.
func groupCosts(ctx context.Context, tx pgx.Tx, p period, dim Dimension) (map[string]*groupAcc, *Plan, error) {
	key := groupKeySQL(dim)
	rows, err := tx.Query(ctx, `SELECT `+key+`, cost_num, cost_den, bundle_id IS NULL, count(*) `+periodWhere+` GROUP BY 1, 2, 3, 4`,
		p.tenantID, p.from, p.to)
	if err != nil {
		return nil, nil, fmt.Errorf("group costs: %w", err)
	}
	type part struct {
		key     string
		class   Class
		overage bool
		n       int64
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (part, error) {
		var x part
		return x, r.Scan(&x.key, &x.class.Num, &x.class.Den, &x.overage, &x.n)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("group costs: %w", err)
	}
	counts := map[Class]int64{}
	for _, x := range parts {
		counts[x.class] += x.n
	}
	plan, err := NewPlan(counts)
	if err != nil {
		return nil, nil, err
	}
	groups := map[string]*groupAcc{}
	for _, x := range parts {
		g := groups[x.key]
		if g == nil {
			g = &groupAcc{}
			groups[x.key] = g
		}
		cp := plan.classes[x.class]
		cost := x.n * (cp.floor + cp.extra)
		g.contacts += x.n
		g.cost += cost
		if x.overage {
			g.billed += cost
		}
	}
	if plan.Partial > 0 {
		var nums, dens []int64
		for c, cp := range plan.classes {
			if cp.partial {
				nums, dens = append(nums, c.Num), append(dens, c.Den)
			}
		}
		rows, err := tx.Query(ctx, `SELECT key, overage, count(*) FROM (SELECT `+key+` AS key, bundle_id IS NULL AS overage `+periodWhere+`
			AND (cost_num, cost_den) IN (SELECT * FROM unnest($4::bigint[], $5::bigint[]))`+streamOrder+` LIMIT $6) s GROUP BY 1, 2`,
			p.tenantID, p.from, p.to, nums, dens, plan.Partial)
		if err != nil {
			return nil, nil, fmt.Errorf("group costs: %w", err)
		}
		extra, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (part, error) {
			var x part
			return x, r.Scan(&x.key, &x.overage, &x.n)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("group costs: %w", err)
		}
		for _, x := range extra {
			groups[x.key].cost += x.n
			if x.overage {
				groups[x.key].billed += x.n
			}
		}
	}
	return groups, plan, nil
}
