package web

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/routing/setup"
	"github.com/cic-platform/cic/tenant"
)

// The routing admin page: skills, queues, agents' routing profiles and
// disposition codes, for owners and admins. Each form posts to a route
// that calls the setup service and comes back to the page.

var errNotRoutingAdmin = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may set up routing.")

var routingNotices = map[string]string{
	"skill":            "The skill was added.",
	"skill-deleted":    "The skill was deleted.",
	"queue":            "The queue was created.",
	"queue-saved":      "The queue was saved.",
	"profile":          "The routing profile was saved.",
	"disposition":      "The disposition code was saved.",
	"disposition-gone": "The disposition code was deleted.",
}

type levelField struct {
	ID    uuid.UUID
	Name  string
	Level int
}

type channelField struct {
	Name string
	On   bool
	N    int
}

type routingQueueView struct {
	setup.Queue
	ChannelFields []channelField
	SkillFields   []levelField
	Strategies    []string
	// Days are the business hours per weekday, Monday first; AlwaysOpen
	// when the queue has none.
	Days       []dayField
	AlwaysOpen bool
	// Overflow lists the tenant's other queues for the overflow select.
	Overflow     []overflowOption
	OverflowName string
	HoursSummary string
	// The calendar select (pages_calendars.go) and the chosen one's name.
	CalendarOptions []calendarOption
	CalendarT       map[string]string
	CalendarName    string
	// Steps is the skill steps as the form shows them: "30:5 60:3".
	Steps string
}

type dayField struct {
	Key, Label, Open, Close string
}

type overflowOption struct {
	ID       uuid.UUID
	Name     string
	Selected bool
}

// formDays are the weekdays of the hours form, Monday first.
var formDays = []struct{ Key, Label string }{
	{"mon", "Monday"}, {"tue", "Tuesday"}, {"wed", "Wednesday"}, {"thu", "Thursday"},
	{"fri", "Friday"}, {"sat", "Saturday"}, {"sun", "Sunday"},
}

// commonTimezones feed the time zone field's suggestions; any IANA name
// is accepted.
var commonTimezones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
	"Europe/Amsterdam", "Europe/Brussels", "Europe/Madrid", "Europe/Rome", "Europe/Vienna", "Europe/Zurich", "Europe/Stockholm",
	"Europe/Warsaw", "Europe/Prague", "Europe/Athens", "Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto", "America/Mexico_City",
	"America/Sao_Paulo", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai",
	"Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland"}

type routingAgentView struct {
	User     tenant.User
	Skills   []levelField
	Capacity []channelField
}

type routingPageData struct {
	Skills       []setup.Skill
	Queues       []routingQueueView
	NewQueue     routingQueueView
	Agents       []routingAgentView
	Dispositions []setup.Disposition
	Timezones    []string
	Calendars    *calendarSection
}

func (s *Server) routingPage(c *fiber.Ctx) error {
	notice := routingNotices[c.Query("done")]
	if notice == "" {
		notice = calendarNotices[pageLang(c)][c.Query("done")]
	}
	return s.renderRouting(c, pageData{Notice: notice}, nil)
}

func (s *Server) renderRouting(c *fiber.Ctx, d pageData, err error) error {
	a, _ := actor(c)
	if !a.Role.Manages() {
		return errNotRoutingAdmin
	}
	ctx := c.UserContext()
	skills, lerr := s.cfg.Setup.ListSkills(ctx, a)
	if lerr != nil {
		return lerr
	}
	queues, lerr := s.cfg.Setup.ListQueues(ctx, a)
	if lerr != nil {
		return lerr
	}
	disps, lerr := s.cfg.Setup.ListDispositions(ctx, a)
	if lerr != nil {
		return lerr
	}
	users, _, lerr := s.cfg.Tenants.ListUsers(ctx, a, tenant.UserFilter{Status: tenant.StatusActive, Limit: 200})
	if lerr != nil {
		return lerr
	}
	profs, lerr := s.cfg.Setup.Profiles(ctx, a.TenantID)
	if lerr != nil {
		return lerr
	}
	byUser := map[uuid.UUID]setup.Profile{}
	for _, p := range profs {
		byUser[p.UserID] = p
	}
	data := routingPageData{Skills: skills, Dispositions: disps, Timezones: commonTimezones,
		NewQueue: queueView(setup.Queue{Channels: []string{"chat"}, ReofferAfter: 10}, skills, queues)}
	for _, q := range queues {
		data.Queues = append(data.Queues, queueView(q, skills, queues))
	}
	if lerr := s.addCalendars(c, a, &data); lerr != nil {
		return lerr
	}
	for _, u := range users {
		if u.Role == cic.RoleFinance {
			continue
		}
		p := byUser[u.ID]
		v := routingAgentView{User: u}
		for _, sk := range skills {
			f := levelField{ID: sk.ID, Name: sk.Name}
			for _, l := range p.Skills {
				if l.SkillID == sk.ID {
					f.Level = l.Level
				}
			}
			v.Skills = append(v.Skills, f)
		}
		for _, ch := range setup.Channels {
			v.Capacity = append(v.Capacity, channelField{Name: ch, N: p.Capacity[ch]})
		}
		data.Agents = append(data.Agents, v)
	}
	d.Title, d.Data = "Routing", data
	if err != nil {
		return s.pageError(c, "routing_admin", d, err)
	}
	return s.render(c, "routing_admin", d)
}

func queueView(q setup.Queue, skills []setup.Skill, queues []setup.Queue) routingQueueView {
	v := routingQueueView{Queue: q, Strategies: setup.Strategies, AlwaysOpen: q.Hours == nil, HoursSummary: hoursSummary(q.Hours),
		Steps: formatSteps(q.SkillSteps)}
	for _, d := range formDays {
		f := dayField{Key: d.Key, Label: d.Label}
		if q.Hours != nil {
			if span, ok := q.Hours.Days[d.Key]; ok {
				f.Open, f.Close = span[0], span[1]
			}
		}
		v.Days = append(v.Days, f)
	}
	for _, o := range queues {
		selected := q.OverflowID != nil && *q.OverflowID == o.ID
		if selected {
			v.OverflowName = o.Name
		}
		if o.ID != q.ID {
			v.Overflow = append(v.Overflow, overflowOption{ID: o.ID, Name: o.Name, Selected: selected})
		}
	}
	for _, ch := range setup.Channels {
		on := false
		for _, x := range q.Channels {
			on = on || x == ch
		}
		v.ChannelFields = append(v.ChannelFields, channelField{Name: ch, On: on})
	}
	for _, sk := range skills {
		f := levelField{ID: sk.ID, Name: sk.Name}
		for _, r := range q.Skills {
			if r.SkillID == sk.ID {
				f.Level = r.MinLevel
			}
		}
		v.SkillFields = append(v.SkillFields, f)
	}
	return v
}

// hoursSummary reads business hours for the queue's summary line, days
// with the same hours in a row joined: "Mon–Fri 08:00–18:00, Sat
// 10:00–12:00 (Europe/Berlin)".
func hoursSummary(h *setup.BusinessHours) string {
	if h == nil {
		return "always open"
	}
	var parts []string
	for i := 0; i < len(formDays); {
		span, open := h.Days[formDays[i].Key]
		j := i + 1
		for j < len(formDays) && open {
			next, ok := h.Days[formDays[j].Key]
			if !ok || next != span {
				break
			}
			j++
		}
		if open {
			days := formDays[i].Label[:3]
			if j-i > 1 {
				days += "–" + formDays[j-1].Label[:3]
			}
			parts = append(parts, days+" "+span[0]+"–"+span[1])
		}
		i = j
	}
	return strings.Join(parts, ", ") + " (" + h.Timezone + ")"
}

func (s *Server) routingDone(c *fiber.Ctx, done, anchor string) error {
	return c.Redirect("/routing?done="+done+"#"+anchor, fiber.StatusSeeOther)
}

func (s *Server) routingSkillCreate(c *fiber.Ctx) error {
	a, _ := actor(c)
	if _, err := s.cfg.Setup.CreateSkill(c.UserContext(), a, c.FormValue("name")); err != nil {
		return s.renderRouting(c, pageData{Form: formValues(c, "name")}, err)
	}
	return s.routingDone(c, "skill", "skills")
}

func (s *Server) routingSkillDelete(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "skill")
	if err != nil {
		return err
	}
	if err := s.cfg.Setup.DeleteSkill(c.UserContext(), a, id); err != nil {
		return s.renderRouting(c, pageData{}, err)
	}
	return s.routingDone(c, "skill-deleted", "skills")
}

// formInt reads an optional whole number; empty is nil.
func formInt(c *fiber.Ctx, name string) (*int, error) {
	v := strings.TrimSpace(c.FormValue(name))
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, cic.Codef(cic.EINVALID, "invalid_"+name, "%s must be a whole number.", strings.ReplaceAll(name, "_", " "))
	}
	return &n, nil
}

// parseSteps reads the skill steps field, "after_seconds:min_level" pairs
// separated by spaces or commas ("30:5 60:3"); empty is none.
func parseSteps(v string) ([]setup.SkillStep, error) {
	steps := []setup.SkillStep{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		a, l, ok := strings.Cut(f, ":")
		after, err1 := strconv.Atoi(a)
		level, err2 := strconv.Atoi(l)
		if !ok || err1 != nil || err2 != nil || len(steps) >= setup.MaxSkillSteps {
			return nil, cic.Codef(cic.EINVALID, "invalid_skill_steps", "Skill steps are up to %d pairs seconds:level, e.g. 30:5 60:3.", setup.MaxSkillSteps)
		}
		steps = append(steps, setup.SkillStep{AfterSeconds: after, MinLevel: level})
	}
	return steps, nil
}

func formatSteps(steps []setup.SkillStep) string {
	parts := make([]string, len(steps))
	for i, st := range steps {
		parts[i] = strconv.Itoa(st.AfterSeconds) + ":" + strconv.Itoa(st.MinLevel)
	}
	return strings.Join(parts, " ")
}

// hoursForm reads the business hours fields: nil (always open) when
// "always open" is ticked or nothing is filled in; otherwise the setup
// validates what was typed, a day with neither time being closed.
func hoursForm(c *fiber.Ctx) *setup.BusinessHours {
	if c.FormValue("always_open") != "" {
		return nil
	}
	h := &setup.BusinessHours{Timezone: strings.TrimSpace(c.FormValue("timezone")), Days: map[string][2]string{}}
	for _, d := range formDays {
		open, closing := strings.TrimSpace(c.FormValue("open_"+d.Key)), strings.TrimSpace(c.FormValue("close_"+d.Key))
		if open != "" || closing != "" {
			h.Days[d.Key] = [2]string{open, closing}
		}
	}
	if h.Timezone == "" && len(h.Days) == 0 {
		return nil
	}
	return h
}

// queueForm reads the queue form into the setup's input; on an update,
// an optional setting left empty (relax-after, max wait, overflow,
// business hours) is cleared.
func (s *Server) queueForm(c *fiber.Ctx, a tenant.Actor, update bool) (setup.QueueInput, error) {
	name, strategy, cc, closed := c.FormValue("name"), c.FormValue("strategy"), c.FormValue("cost_centre"), c.FormValue("closed_message")
	in := setup.QueueInput{Name: &name, CostCentre: &cc, ClosedMsg: &closed, Channels: []string{}, Skills: []setup.Requirement{}}
	if strategy != "" {
		in.Strategy = &strategy
	}
	for _, v := range c.Context().PostArgs().PeekMulti("channels") {
		in.Channels = append(in.Channels, string(v))
	}
	var err error
	for _, f := range []struct {
		name string
		dst  **int
	}{{"priority", &in.Priority}, {"sl_percent", &in.SLPercent}, {"sl_seconds", &in.SLSeconds},
		{"offer_timeout_seconds", &in.OfferTimeout}, {"max_misses", &in.MaxMisses}, {"relax_after_seconds", &in.RelaxAfter},
		{"reoffer_after_seconds", &in.ReofferAfter}, {"preferred_agent_seconds", &in.PreferredAgent}} {
		if *f.dst, err = formInt(c, f.name); err != nil {
			return in, err
		}
	}
	if in.MaxWait, err = formInt(c, "max_wait_seconds"); err != nil {
		return in, err
	}
	if in.AnnounceEvery, err = formInt(c, "announce_every_seconds"); err != nil {
		return in, err
	}
	if in.SkillSteps, err = parseSteps(c.FormValue("skill_steps")); err != nil {
		return in, err
	}
	if v := c.FormValue("overflow_queue_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return in, cic.Codef(cic.EINVALID, "invalid_overflow", "Pick the overflow queue from the list.")
		}
		in.OverflowID = &id
	}
	in.Hours = hoursForm(c)
	if update {
		// What the form leaves empty is cleared, not kept.
		in.Clear = map[string]bool{}
		for key, empty := range map[string]bool{"relax_after_seconds": in.RelaxAfter == nil, "max_wait_seconds": in.MaxWait == nil,
			"overflow_queue_id": in.OverflowID == nil, "business_hours": in.Hours == nil} {
			if empty {
				in.Clear[key] = true
			}
		}
	}
	if err := calendarQueueForm(c, &in, update); err != nil {
		return in, err
	}
	skills, err := s.cfg.Setup.ListSkills(c.UserContext(), a)
	if err != nil {
		return in, err
	}
	for _, sk := range skills {
		lvl, err := formInt(c, "skill_"+sk.ID.String())
		if err != nil {
			return in, err
		}
		if lvl != nil && *lvl > 0 {
			in.Skills = append(in.Skills, setup.Requirement{SkillID: sk.ID, MinLevel: *lvl})
		}
	}
	return in, nil
}

func (s *Server) routingQueueCreate(c *fiber.Ctx) error {
	a, _ := actor(c)
	in, err := s.queueForm(c, a, false)
	if err == nil {
		_, err = s.cfg.Setup.CreateQueue(c.UserContext(), a, in)
	}
	if err != nil {
		return s.renderRouting(c, pageData{Form: formValues(c, "name")}, err)
	}
	return s.routingDone(c, "queue", "queues")
}

func (s *Server) routingQueueUpdate(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "queue")
	if err != nil {
		return err
	}
	in, err := s.queueForm(c, a, true)
	if err == nil {
		_, err = s.cfg.Setup.UpdateQueue(c.UserContext(), a, id, in)
	}
	if err != nil {
		return s.renderRouting(c, pageData{}, err)
	}
	return s.routingDone(c, "queue-saved", "queues")
}

func (s *Server) routingProfileSubmit(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "user")
	if err != nil {
		return err
	}
	in := setup.ProfileInput{Skills: []setup.SkillLevel{}, Capacity: map[string]int{}}
	perr := func() error {
		skills, err := s.cfg.Setup.ListSkills(c.UserContext(), a)
		if err != nil {
			return err
		}
		for _, sk := range skills {
			lvl, err := formInt(c, "skill_"+sk.ID.String())
			if err != nil {
				return err
			}
			if lvl != nil && *lvl > 0 {
				in.Skills = append(in.Skills, setup.SkillLevel{SkillID: sk.ID, Level: *lvl})
			}
		}
		for _, ch := range setup.Channels {
			n, err := formInt(c, "cap_"+ch)
			if err != nil {
				return err
			}
			if n != nil {
				in.Capacity[ch] = *n
			}
		}
		_, err = s.cfg.Setup.SetProfile(c.UserContext(), a, id, in)
		return err
	}()
	if perr != nil {
		return s.renderRouting(c, pageData{}, perr)
	}
	return s.routingDone(c, "profile", "agents")
}

func (s *Server) routingDispositionSubmit(c *fiber.Ctx) error {
	a, _ := actor(c)
	d := setup.Disposition{Code: strings.TrimSpace(c.FormValue("code")), Label: c.FormValue("label"), Resolved: c.FormValue("resolved") != ""}
	if _, err := s.cfg.Setup.SetDisposition(c.UserContext(), a, d); err != nil {
		return s.renderRouting(c, pageData{Form: formValues(c, "code", "label")}, err)
	}
	return s.routingDone(c, "disposition", "dispositions")
}

func (s *Server) routingDispositionDelete(c *fiber.Ctx) error {
	a, _ := actor(c)
	if err := s.cfg.Setup.DeleteDisposition(c.UserContext(), a, c.Params("code")); err != nil {
		return s.renderRouting(c, pageData{}, err)
	}
	return s.routingDone(c, "disposition-gone", "dispositions")
}
