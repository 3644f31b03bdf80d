package web

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/voice"
)

// The IVR page: managers write a menu as JSON, which the page checks as
// they type (client-side parsing and a readable preview, then the
// server's own validation) and saves through a CSRF-protected form; and
// they point the company's phone numbers at a menu or straight at a queue.

var errNotIVRAdmin = cic.Codef(cic.EFORBIDDEN, "forbidden", "Only an owner or admin may set up IVR menus.")

var ivrNotices = map[string]string{
	"created":        "The menu was created.",
	"saved":          "The menu was saved.",
	"deleted":        "The menu was deleted.",
	"number":         "The number was added.",
	"number-removed": "The number was removed.",
}

type ivrMenuView struct {
	voice.Menu
	JSON string
}

type ivrNumberView struct {
	directory.Address
	MenuName, QueueName string
}

type ivrQueue struct {
	ID    uuid.UUID `json:"id"`
	Name  string    `json:"name"`
	Voice bool      `json:"voice"`
}

type ivrPageData struct {
	Menus   []ivrMenuView
	Numbers []ivrNumberView
	Queues  []ivrQueue
	Sample  string
	// Editing is the menu whose form failed (its fields are in Form).
	Editing string
}

func (s *Server) ivrPage(c *fiber.Ctx) error {
	return s.renderIVR(c, pageData{Notice: ivrNotices[c.Query("done")]}, nil)
}

func (s *Server) renderIVR(c *fiber.Ctx, d pageData, err error) error {
	a, _ := actor(c)
	if !a.Role.Manages() {
		return errNotIVRAdmin
	}
	ctx := c.UserContext()
	menus, lerr := s.cfg.Voice.Menus(ctx, a)
	if lerr != nil {
		return lerr
	}
	queues, lerr := s.cfg.Setup.ListQueues(ctx, a)
	if lerr != nil {
		return lerr
	}
	addrs, lerr := s.cfg.Directory.Addresses(ctx, a.TenantID)
	if lerr != nil {
		return lerr
	}
	data := ivrPageData{}
	qname := map[uuid.UUID]string{}
	var firstVoice *uuid.UUID
	for _, q := range queues {
		v := false
		for _, ch := range q.Channels {
			v = v || ch == voice.Name
		}
		if v && firstVoice == nil {
			id := q.ID
			firstVoice = &id
		}
		qname[q.ID] = q.Name
		data.Queues = append(data.Queues, ivrQueue{ID: q.ID, Name: q.Name, Voice: v})
	}
	mname := map[uuid.UUID]string{}
	for _, m := range menus {
		raw, _ := json.MarshalIndent(m.Tree, "", "  ")
		data.Menus = append(data.Menus, ivrMenuView{Menu: m, JSON: string(raw)})
		mname[m.ID] = m.Name
	}
	for _, ad := range addrs {
		if ad.Channel != voice.Name {
			continue
		}
		v := ivrNumberView{Address: ad}
		if ad.IVRMenuID != nil {
			v.MenuName = mname[*ad.IVRMenuID]
		}
		if ad.QueueID != nil {
			v.QueueName = qname[*ad.QueueID]
		}
		data.Numbers = append(data.Numbers, v)
	}
	raw, _ := json.MarshalIndent(sampleMenu(firstVoice), "", "  ")
	data.Sample = string(raw)
	if id := c.Params("id"); id != "" && strings.HasPrefix(c.Path(), "/ivr/menus/") {
		data.Editing = id
	}
	d.Title, d.Data = "IVR menus", data
	if err != nil {
		return s.pageError(c, "ivr", d, err)
	}
	return s.render(c, "ivr", d)
}

// sampleMenu is the new-menu form's starting point: a menu with a
// sub-menu, a time-out path and each kind of action.
func sampleMenu(queue *uuid.UUID) *voice.Node {
	leaf := func(a voice.Action) *voice.Node { return &voice.Node{Action: &a} }
	toQueue := leaf(voice.Action{Type: voice.ActionHangup, Message: "Please call again during our opening hours."})
	if queue != nil {
		toQueue = leaf(voice.Action{Type: voice.ActionQueue, QueueID: queue})
	}
	return &voice.Node{
		Prompt:         "Welcome. For payments press 1. For deliveries press 2. For our opening hours press 3.",
		TimeoutSeconds: 5,
		Options: map[string]*voice.Node{
			"1": toQueue,
			"2": {Prompt: "To track a parcel press 1. For anything else press 2.", TimeoutSeconds: 5, Options: map[string]*voice.Node{
				"1": leaf(voice.Action{Type: voice.ActionSelfService, Message: "You can track any parcel on our website. Goodbye.", Metered: true}),
				"2": toQueue,
			}},
			"3": leaf(voice.Action{Type: voice.ActionHangup, Message: "We are open Monday to Friday, 8 to 18. Goodbye."}),
		},
		Timeout: toQueue,
	}
}

// menuForm reads the menu form; a tree that is not JSON is a clear error.
func menuForm(c *fiber.Ctx) (voice.MenuInput, error) {
	in := voice.MenuInput{Name: c.FormValue("name")}
	raw := strings.TrimSpace(c.FormValue("tree"))
	if raw == "" {
		return in, cic.Codef(cic.EINVALID, "invalid_menu", "root: The menu is empty: give it a prompt and options.")
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in.Tree); err != nil {
		return in, cic.Codef(cic.EINVALID, "invalid_json", "The menu is not valid JSON: %s.", jsonProblem(err))
	}
	return in, nil
}

func (s *Server) ivrDone(c *fiber.Ctx, done, anchor string) error {
	return c.Redirect("/ivr?done="+done+"#"+anchor, fiber.StatusSeeOther)
}

func (s *Server) ivrMenuCreate(c *fiber.Ctx) error {
	a, _ := actor(c)
	in, err := menuForm(c)
	if err == nil {
		var m voice.Menu
		if m, err = s.cfg.Voice.CreateMenu(c.UserContext(), a, in); err == nil {
			return s.ivrDone(c, "created", "menu-"+m.ID.String())
		}
	}
	return s.renderIVR(c, pageData{Form: formValues(c, "name", "tree")}, err)
}

func (s *Server) ivrMenuUpdate(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "IVR menu")
	if err != nil {
		return err
	}
	in, err := menuForm(c)
	if err == nil {
		if _, err = s.cfg.Voice.UpdateMenu(c.UserContext(), a, id, in); err == nil {
			return s.ivrDone(c, "saved", "menu-"+id.String())
		}
	}
	return s.renderIVR(c, pageData{Form: formValues(c, "name", "tree")}, err)
}

func (s *Server) ivrMenuDelete(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "IVR menu")
	if err != nil {
		return err
	}
	if err := s.cfg.Voice.DeleteMenu(c.UserContext(), a, id); err != nil {
		return s.renderIVR(c, pageData{}, err)
	}
	return s.ivrDone(c, "deleted", "menus")
}

// optionalID reads an optional id field of a form; "" is nil.
func optionalID(c *fiber.Ctx, name string) (*uuid.UUID, error) {
	v := strings.TrimSpace(c.FormValue(name))
	if v == "" {
		return nil, nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return nil, cic.Codef(cic.EINVALID, "invalid_"+name, "Pick one from the list.")
	}
	return &id, nil
}

func (s *Server) ivrNumberAdd(c *fiber.Ctx) error {
	a, _ := actor(c)
	form := pageData{Form: formValues(c, "address", "menu_id", "queue_id")}
	menuID, err := optionalID(c, "menu_id")
	if err != nil {
		return s.renderIVR(c, form, err)
	}
	queueID, err := optionalID(c, "queue_id")
	if err != nil {
		return s.renderIVR(c, form, err)
	}
	if menuID != nil {
		// The menu must be this tenant's: its id alone would pass the FK
		// check only for our own rows anyway, but say so clearly.
		if _, err := s.cfg.Voice.Menu(c.UserContext(), a, *menuID); err != nil {
			return s.renderIVR(c, form, err)
		}
	}
	_, err = s.cfg.Directory.AddAddress(c.UserContext(), a, directory.Address{Channel: voice.Name, Address: c.FormValue("address"),
		IVRMenuID: menuID, QueueID: queueID})
	if err != nil {
		return s.renderIVR(c, form, err)
	}
	return s.ivrDone(c, "number", "numbers")
}

func (s *Server) ivrNumberRemove(c *fiber.Ctx) error {
	a, id, err := actorAndID(c, "number")
	if err != nil {
		return err
	}
	if err := s.cfg.Directory.RemoveAddress(c.UserContext(), a, id); err != nil {
		return s.renderIVR(c, pageData{}, err)
	}
	return s.ivrDone(c, "number-removed", "numbers")
}

// ivrValidate: the editor's live check, as saving would check.
func (s *Server) ivrValidate(c *fiber.Ctx) error {
	a, err := actor(c)
	if err != nil {
		return jsonError(c, err)
	}
	in, err := menuForm(c)
	if err == nil {
		err = s.cfg.Voice.ValidateMenu(c.UserContext(), a, in)
	}
	if err != nil {
		return jsonError(c, err)
	}
	return c.JSON(fiber.Map{"ok": true})
}
