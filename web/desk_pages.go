package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/routing/live"
	"github.com/cic-platform/cic/routing/setup"
)

// hasDesk says who works contacts at a desk.
func hasDesk(r cic.Role) bool {
	return r.In(cic.RoleAgent, cic.RoleSupervisor, cic.RoleAdmin, cic.RoleOwner)
}

var errNoDesk = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only agents, supervisors, admins and owners have a desk.")

// deskAwayText is the desk's notice when routing set the agent away for
// missed offers, and its button, by language.
var deskAwayText = map[string][2]string{
	"en": {"You were set to away after {n} missed offers.", "Become available"},
	"de": {"Sie wurden nach {n} verpassten Angeboten auf abwesend gesetzt.", "Wieder verfügbar werden"},
}

// deskStatuses are what the desk's status selector offers.
var deskStatuses = []string{"available", "away", "offline"}

type deskPageData struct {
	Statuses []string
	Status   string
	// Away explains an away set by the miss rule (Misses in a row) in the
	// page's language; AwayText has {n} for the count.
	StatusReason         string
	Misses               int
	AwayText, AwayButton string
	AwayNow              string
	Dispositions         []setup.Disposition
	Queues               []contacts.Target
	Agents               []contacts.Target
	// Seated: the session holds a seat, which going available needs.
	Seated bool
	// Refresh is how often (s) the page reads its state without an event.
	Refresh int
}

func (s *Server) deskPage(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	if !hasDesk(p.Role) {
		return errNoDesk
	}
	ctx := c.UserContext()
	d := deskPageData{Statuses: deskStatuses, Refresh: 15}
	st, err := s.cfg.Contacts.StatusDetail(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	d.Status, d.StatusReason, d.Misses = st.Status, st.Reason, st.Misses
	t := deskAwayText[pageLang(c)]
	d.AwayText, d.AwayButton = t[0], t[1]
	if d.StatusReason == "missed_offers" {
		d.AwayNow = strings.ReplaceAll(d.AwayText, "{n}", strconv.Itoa(d.Misses))
	}
	if d.Dispositions, err = s.cfg.Setup.ListDispositions(ctx, p.Actor); err != nil {
		return err
	}
	if d.Queues, d.Agents, err = s.cfg.Contacts.TransferTargets(ctx, p); err != nil {
		return err
	}
	_, seatErr := uuid.Parse(c.Cookies(cookieSeat))
	d.Seated = seatErr == nil
	return s.render(c, "desk", pageData{Title: "Desk", Data: d})
}

// deskContact is one of the agent's contacts with what the desk shows
// beside it.
type deskContact struct {
	contacts.Contact
	Events  []contacts.Event   `json:"events"`
	History []contacts.Contact `json:"history"`
}

// deskStateAnswer is GET /desk/state: the caller's routing status, the
// contacts offered to them (ringing) and those they handle.
type deskStateAnswer struct {
	Now    time.Time `json:"now"`
	Status string    `json:"status"`
	// StatusReason is "missed_offers" when routing set the agent away
	// after MissedOffers missed offers in a row.
	StatusReason string               `json:"status_reason,omitempty"`
	MissedOffers int                  `json:"missed_offers,omitempty"`
	Offered      []contacts.Contact   `json:"offered"`
	Active       []deskContact        `json:"active"`
	Queues       map[uuid.UUID]string `json:"queues"`
}

func (s *Server) deskState(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	if !hasDesk(p.Role) {
		return jsonError(c, errNoDesk)
	}
	ctx := c.UserContext()
	ans := deskStateAnswer{Now: time.Now().UTC(), Offered: []contacts.Contact{}, Active: []deskContact{}, Queues: map[uuid.UUID]string{}}
	st, err := s.cfg.Contacts.StatusDetail(ctx, p.TenantID, p.UserID)
	if err != nil {
		return jsonError(c, err)
	}
	ans.Status, ans.StatusReason, ans.MissedOffers = st.Status, st.Reason, st.Misses
	mine, err := s.cfg.Contacts.Mine(ctx, p)
	if err != nil {
		return jsonError(c, err)
	}
	for _, ct := range mine {
		if ct.State == contacts.StateOffered {
			ans.Offered = append(ans.Offered, ct)
			continue
		}
		d, err := s.cfg.Contacts.Get(ctx, p, ct.ID)
		if err != nil {
			return jsonError(c, err)
		}
		h, err := s.cfg.Contacts.History(ctx, p, ct.ID, 10)
		if err != nil {
			return jsonError(c, err)
		}
		ans.Active = append(ans.Active, deskContact{Contact: d.Contact, Events: d.Events, History: h})
	}
	qs, _, err := s.cfg.Contacts.TransferTargets(ctx, p)
	if err != nil {
		return jsonError(c, err)
	}
	for _, q := range qs {
		ans.Queues[q.ID] = q.Name
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(ans)
}

// deskEvents streams the events that concern the caller's desk: those
// naming them, and those naming no agent (a customer who left).
func (s *Server) deskEvents(hub *live.Subscriber) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, _ := principalOf(c)
		if !hasDesk(p.Role) {
			return jsonError(c, errNoDesk)
		}
		me := p.UserID
		return s.liveStream(c, hub, p, func(ev live.Event) bool {
			return ev.AgentID == nil || *ev.AgentID == me
		})
	}
}

// deskStatusSubmit: POST /desk/status {status}. Going available takes
// the seat lease of the session's cookie, as PUT /api/v1/agent/status
// takes X-Seat-Lease.
func (s *Server) deskStatusSubmit(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	if !hasDesk(p.Role) {
		return jsonError(c, errNoDesk)
	}
	status := c.FormValue("status")
	seated := false
	if status == "available" {
		id, err := uuid.Parse(c.Cookies(cookieSeat))
		if err != nil {
			return jsonError(c, errSeatRequired)
		}
		if _, err := s.cfg.Seats.Check(c.UserContext(), p, id); err != nil {
			return jsonError(c, err)
		}
		seated = true
	}
	if err := s.cfg.Contacts.SetStatus(c.UserContext(), p, status, seated); err != nil {
		return jsonError(c, err)
	}
	return c.JSON(fiber.Map{"status": status})
}

// deskActionSubmit: POST /desk/contacts/:id/accept|reject|transfer|wrapup|close,
// form-encoded (disposition; queue_id or agent_id), answering JSON.
func (s *Server) deskActionSubmit(c *fiber.Ctx) error {
	p, _ := principalOf(c)
	if !hasDesk(p.Role) {
		return jsonError(c, errNoDesk)
	}
	id, err := paramID(c, "contact")
	if err != nil {
		return jsonError(c, err)
	}
	ctx := c.UserContext()
	switch c.Params("action") {
	case "accept":
		_, err = s.cfg.Contacts.Accept(ctx, p, id)
	case "reject":
		err = s.cfg.Contacts.Reject(ctx, p, id)
	case "wrapup":
		err = s.cfg.Contacts.WrapUp(ctx, p, id, c.FormValue("disposition"))
	case "close":
		err = s.cfg.Contacts.Close(ctx, p, id)
	case "transfer":
		var to contacts.TransferTo
		to, err = transferTarget(c.FormValue("to"))
		if err == nil {
			err = s.cfg.Contacts.Transfer(ctx, p, id, to)
		}
	default:
		return jsonError(c, cic.Codef(cic.ENOTFOUND, "not_found", "No such desk action."))
	}
	if err != nil {
		return jsonError(c, err)
	}
	return c.JSON(fiber.Map{"ok": true})
}

// transferTarget reads the transfer select's value: queue:<id> or agent:<id>.
func transferTarget(v string) (contacts.TransferTo, error) {
	bad := cic.Codef(cic.EINVALID, "invalid_target", "Choose a queue or an agent to transfer to.")
	kind, raw, _ := strings.Cut(v, ":")
	id, err := uuid.Parse(raw)
	if err != nil {
		return contacts.TransferTo{}, bad
	}
	switch kind {
	case "queue":
		return contacts.TransferTo{QueueID: &id}, nil
	case "agent":
		return contacts.TransferTo{AgentID: &id}, nil
	}
	return contacts.TransferTo{}, bad
}
