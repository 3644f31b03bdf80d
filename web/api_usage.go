package web

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/metering"
	"github.com/cic-platform/cic/tenant"
)

// ingestTimeout bounds how long an ingest call waits for its commit.
const ingestTimeout = 20 * time.Second

const (
	localAPITenant = "api_tenant"
	localAPIKeyID  = "api_key_id"
)

var errNoAPIKey = cic.Codef(cic.EUNAUTHORIZED, "api_key_required",
	"Send Authorization: Bearer <API key>; an admin creates keys at POST /api/v1/api-keys. User tokens are not accepted here.")

// requireAPIKey authenticates an integrator by API key: the tenant it acts
// for is all the handler gets, there is no user.
func (s *Server) requireAPIKey(c *fiber.Ctx) error {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || !tenant.IsAPIKey(token) {
		return errNoAPIKey
	}
	tenantID, keyID, err := s.cfg.Tenants.AuthenticateAPIKey(c.UserContext(), token)
	if err != nil {
		return err
	}
	c.Locals(localAPITenant, tenantID)
	c.Locals(localAPIKeyID, keyID)
	return c.Next()
}

func apiKeyTenant(c *fiber.Ctx) (uuid.UUID, error) {
	id, ok := c.Locals(localAPITenant).(uuid.UUID)
	if !ok || id == uuid.Nil {
		return uuid.Nil, errNoAPIKey
	}
	return id, nil
}

// ingestBody holds the items raw, so that one malformed item is refused
// alone instead of failing the whole batch.
type ingestBody struct {
	Contacts []json.RawMessage `json:"contacts"`
}

// ingestItem is one reported contact as sent; handled_at is parsed here
// so a bad time is an error of that item.
type ingestItem struct {
	ID         string `json:"id"`
	Channel    string `json:"channel"`
	Direction  string `json:"direction"`
	HandledAt  string `json:"handled_at"`
	Queue      string `json:"queue"`
	Department string `json:"department"`
	Campaign   string `json:"campaign"`
	Agent      string `json:"agent"`
	// QueueCostCentre: chargeback's cost centre for the queue; empty takes
	// the cost centre of the tenant's queue named Queue.
	QueueCostCentre string `json:"queue_cost_centre"`
}

// decodeItem reads one item; what is wrong with it is reported under the
// id it carries, if one can be read.
func decodeItem(raw json.RawMessage) (metering.HandledContact, *metering.ItemError) {
	var it ingestItem
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&it); err != nil {
		return metering.HandledContact{}, &metering.ItemError{ID: itemID(raw), Code: "invalid_item",
			Message: "The item is not a valid contact: " + jsonProblem(err) + "."}
	}
	hc := metering.HandledContact{ID: it.ID, Channel: it.Channel, Direction: it.Direction, Queue: it.Queue,
		Department: it.Department, Campaign: it.Campaign, Agent: it.Agent, QueueCostCentre: it.QueueCostCentre}
	if it.HandledAt != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(it.HandledAt))
		if err != nil {
			return hc, &metering.ItemError{ID: it.ID, Code: "invalid_handled_at",
				Message: "handled_at must be an RFC 3339 time, e.g. 2025-01-31T14:05:00Z."}
		}
		hc.HandledAt = t
	}
	return hc, nil
}

// itemID digs the id out of an item that does not decode as a whole.
func itemID(raw json.RawMessage) string {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil || len(v.ID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.ID, &s) == nil {
		if len(s) > 128 || !utf8.ValidString(s) {
			return ""
		}
		return s
	}
	if len(v.ID) <= 64 && v.ID[0] != '{' && v.ID[0] != '[' && v.ID[0] != '"' {
		return string(v.ID) // a number or literal, as sent
	}
	return ""
}

// apiIngestContacts meters contacts handled outside the platform (an
// existing ACD or PBX). Re-sending ids is harmless: they come back as
// duplicates. A 503 means nothing is known to be metered; retry the batch.
func (s *Server) apiIngestContacts(c *fiber.Ctx) error {
	tenantID, err := apiKeyTenant(c)
	if err != nil {
		return err
	}
	var in ingestBody
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	switch {
	case len(in.Contacts) == 0:
		return cic.Codef(cic.EINVALID, "empty_batch", `Send {"contacts": [...]} with 1 to %d contacts.`, metering.MaxContactsPerCall)
	case len(in.Contacts) > metering.MaxContactsPerCall:
		return cic.Codef(cic.EINVALID, "batch_too_large", "At most %d contacts per batch; this one has %d.", metering.MaxContactsPerCall, len(in.Contacts))
	}
	itemErrs := []metering.ItemError{}
	batch := make([]metering.HandledContact, 0, len(in.Contacts))
	for _, raw := range in.Contacts {
		hc, ierr := decodeItem(raw)
		if ierr != nil {
			itemErrs = append(itemErrs, *ierr)
			continue
		}
		batch = append(batch, hc)
	}
	// Bounded below the server's write timeout, so the client hears 503
	// (and retries) rather than a dropped connection.
	ctx, cancel := context.WithTimeout(c.UserContext(), ingestTimeout)
	defer cancel()
	res, err := s.cfg.Meter.Meter(ctx, tenantID, metering.SourceAPI, batch)
	if err != nil {
		if e, ok := cic.AsError(err); ok && statusOf(e.Kind) < 500 {
			return err
		}
		if cic.ErrorKind(err) != cic.EUNAVAILABLE {
			s.log.ErrorContext(c.UserContext(), "metering failed", "err", err, "tenant_id", tenantID, "request_id", requestIDOf(c))
			err = cic.Codef(cic.EUNAVAILABLE, "metering_unavailable",
				"Metering is unavailable right now; retry the same batch shortly (re-sending is safe).")
		}
		c.Set(fiber.HeaderRetryAfter, "1")
		return err
	}
	res.Errors = append(itemErrs, res.Errors...)
	return c.JSON(res)
}

// usageViewer is the caller, if their role may read usage.
func usageViewer(c *fiber.Ctx) (tenant.Actor, error) {
	a, err := actor(c)
	if err != nil {
		return a, err
	}
	return a, metering.RequireViewer(a)
}

func (s *Server) apiUsageBalance(c *fiber.Ctx) error {
	a, err := usageViewer(c)
	if err != nil {
		return err
	}
	b, err := metering.GetBalance(c.UserContext(), s.cfg.Tenants.DB, a.TenantID, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(b)
}

// dailyDefault is the period /usage/daily answers without from and to.
const dailyDefault = 30

// queryDate reads an optional YYYY-MM-DD query parameter.
func queryDate(c *fiber.Ctx, key string) (time.Time, error) {
	raw := strings.TrimSpace(c.Query(key))
	if raw == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, raw)
	if err != nil {
		return time.Time{}, cic.Codef(cic.EINVALID, "invalid_date", "%s must be a date: YYYY-MM-DD.", key)
	}
	return d, nil
}

type dailyAnswer struct {
	From string              `json:"from"`
	To   string              `json:"to"`
	Days []metering.DayCount `json:"days"`
}

func (s *Server) apiUsageDaily(c *fiber.Ctx) error {
	a, err := usageViewer(c)
	if err != nil {
		return err
	}
	from, err := queryDate(c, "from")
	if err != nil {
		return err
	}
	to, err := queryDate(c, "to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = time.Now().UTC()
		if !from.IsZero() && to.Sub(from) > (metering.MaxDailyRange-1)*24*time.Hour {
			to = from.AddDate(0, 0, metering.MaxDailyRange-1)
		}
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -(dailyDefault - 1))
	}
	days, err := metering.Daily(c.UserContext(), s.cfg.Tenants.DB, a.TenantID, from, to)
	if err != nil {
		return err
	}
	return c.JSON(dailyAnswer{From: days[0].Date, To: days[len(days)-1].Date, Days: days})
}

func (s *Server) apiGetUsagePolicy(c *fiber.Ctx) error {
	a, err := usageViewer(c)
	if err != nil {
		return err
	}
	st, err := metering.GetSettings(c.UserContext(), s.cfg.Tenants.DB, a.TenantID)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// policyInput is what a tenant may send to PUT /usage/policy: the policy,
// which catalogue tier an auto top-up buys, its threshold, the warnings.
// Never a price: those are refused by name before decoding. currency is
// accepted and ignored, so a GET answer minus its prices can be sent back.
type policyInput struct {
	Policy         *string         `json:"policy"`
	TopupThreshold json.RawMessage `json:"topup_threshold"`
	TopupTier      json.RawMessage `json:"topup_tier"`
	WarnPercents   json.RawMessage `json:"warn_percents"`
	Currency       *string         `json:"currency"`
}

// apiPutUsagePolicy sets the exhaustion policy and warnings. The body is
// laid over the current settings, so fields left out keep their value
// (null clears topup_threshold or topup_tier). A body naming a price,
// bundle size or validity is refused whole: 400 price_not_settable.
func (s *Server) apiPutUsagePolicy(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return err
	}
	if !a.Role.Manages() {
		// Checked again by UpdateSettings; here so a bad body from a
		// caller who may not change anything still answers 403.
		return cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may change the exhaustion policy.")
	}
	var raw map[string]json.RawMessage
	if err := decodeJSON(c, &raw); err != nil {
		return err
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	if err := metering.RefusePriceFields(names); err != nil {
		return err
	}
	var in policyInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	st, err := metering.GetSettings(c.UserContext(), s.cfg.Tenants.DB, a.TenantID)
	if err != nil {
		return err
	}
	if in.Policy != nil {
		st.Policy = *in.Policy
	}
	for _, f := range []struct {
		raw json.RawMessage
		to  any
	}{{in.TopupThreshold, &st.TopupThreshold}, {in.TopupTier, &st.TopupTier}, {in.WarnPercents, &st.WarnPercents}} {
		if f.raw == nil {
			continue
		}
		if err := json.Unmarshal(f.raw, f.to); err != nil {
			return cic.Codef(cic.EINVALID, "invalid_json", "The body is not valid JSON for this request: %s.", jsonProblem(err))
		}
	}
	st, err = metering.UpdateSettings(c.UserContext(), s.cfg.Tenants.DB, a, st)
	if err != nil {
		return err
	}
	return c.JSON(st)
}
