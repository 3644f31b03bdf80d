package voice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/routing/contacts"
)

// Webhook steps (the path after /webhooks/twilio/{tenant}/voice).
const (
	StepIncoming = ""
	StepIVR      = "ivr"
	StepWait     = "wait"
	StepHold     = "hold"
	StepStatus   = "status"
	StepOutbound = "outbound"
	StepSurvey   = "survey"
)

// Steps lists every webhook step, for the edge's routes.
var Steps = []string{StepIncoming, StepIVR, StepWait, StepHold, StepStatus, StepOutbound, StepSurvey, StepCallback}

// Webhook is one verified provider request.
type Webhook struct {
	TenantID uuid.UUID
	Step     string
	Query    url.Values // of the URL we gave the provider
	Form     url.Values // the provider's POST parameters
}

// Phrases the caller hears from us (not from the admin's menu).
const (
	sayNotInService = "Sorry, this number is not in service."
	sayError        = "Sorry, we cannot take your call right now. Please try again later."
	sayHold         = "Thank you for calling. Please hold, an agent will be with you shortly."
	sayStillHolding = "Thank you for holding. Your call is important to us."
	sayOnHold       = "Please hold, your agent will be right back."
	sayNoOption     = "Sorry, that is not an option."
	sayGoodbye      = "Thank you for calling. Goodbye."
	sayUnavailable  = "Sorry, our service is unavailable at the moment. Please try again later. Goodbye."
	sayNoAgent      = "Sorry, nobody could take your call. Please try again later. Goodbye."
	sayAskScore     = "Before you go: how satisfied are you with the help you got? Press 1 for not at all, up to 5 for very satisfied."
	sayThanksScore  = "Thank you for your feedback. Goodbye."
)

// validSID reports whether s looks like a provider id: letters and digits.
func validSID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// clip makes provider text storable: valid UTF-8 without NULs (the
// fuzzer found a caller id of one byte 0x80 failing the insert), at most
// n bytes, cut on a character boundary.
func clip(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// apology ends a call we cannot serve; it is the answer to any input we
// cannot make sense of, so the provider always gets valid TwiML.
func apology(msg string) *TwiML { return new(TwiML).Say(msg).Hangup() }

// Handle answers one verified webhook with TwiML. Input that makes no
// sense (no CallSid, a forged step) gets a spoken apology and a hang-up,
// never an error; an error is returned only when our side failed (the
// database), so the provider retries.
func (s *Service) Handle(ctx context.Context, w Webhook) (*TwiML, error) {
	sid := w.Form.Get("CallSid")
	if !validSID(sid) {
		if w.Step == StepStatus {
			return new(TwiML), nil
		}
		return apology(sayError), nil
	}
	var t *TwiML
	var err error
	switch w.Step {
	case StepIncoming:
		t, err = s.incoming(ctx, w.TenantID, sid, w.Form)
	case StepIVR:
		t, err = s.ivrStep(ctx, w.TenantID, sid, w.Query, w.Form)
	case StepWait:
		t, err = s.wait(ctx, w.TenantID, sid, w.Query)
	case StepHold:
		t, err = s.onHold(ctx, w.TenantID, sid, w.Query)
	case StepStatus:
		t, err = s.status(ctx, w.TenantID, sid, w.Form)
	case StepOutbound:
		t, err = s.outbound(ctx, w.TenantID, sid, w.Query)
	case StepSurvey:
		t, err = s.survey(ctx, w.TenantID, sid, w.Query, w.Form)
	case StepVoicemail, StepRecording:
		t, err = s.voicemail(ctx, w.TenantID, sid, w.Step, w.Query, w.Form)
	case StepCallback:
		t, err = s.callbackKey(ctx, w.TenantID, sid, w.Query, w.Form)
	default:
		return apology(sayError), nil
	}
	if err != nil {
		if k := cic.ErrorKind(err); k == cic.EINVALID || k == cic.ENOTFOUND || k == cic.ECONFLICT {
			s.Logger.Info("voice webhook refused", "tenant", w.TenantID, "step", w.Step, "call", sid, "err", err)
			if w.Step == StepStatus || w.Step == StepRecording {
				return new(TwiML), nil
			}
			return apology(sayError), nil
		}
		return nil, fmt.Errorf("voice %s: %w", w.Step, err)
	}
	return t, nil
}

// incoming: a call arrives at one of the tenant's numbers.
func (s *Service) incoming(ctx context.Context, tenantID uuid.UUID, sid string, f url.Values) (*TwiML, error) {
	from, to := clip(f.Get("From"), 64), clip(f.Get("To"), 64)
	addr, err := s.Directory.AddressOf(ctx, tenantID, Name, to)
	if err != nil {
		if k := cic.ErrorKind(err); k == cic.ENOTFOUND || k == cic.EINVALID {
			return apology(sayNotInService), nil
		}
		return nil, err
	}
	var call Call
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO voice_calls (tenant_id, call_sid, menu_id, queue_id, from_addr, to_addr, status)
			VALUES ($1, $2, $3, $4, $5, $6, 'in-progress') ON CONFLICT DO NOTHING`, tenantID, sid, addr.IVRMenuID, addr.QueueID, from, to); err != nil {
			return fmt.Errorf("record call: %w", err)
		}
		var err error
		call, err = scanCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM voice_calls WHERE tenant_id = $1 AND call_sid = $2`, tenantID, sid))
		return err
	})
	if err != nil {
		return nil, err
	}
	if call.ContactID != nil { // the provider retried the call
		return s.replayed(ctx, tenantID, *call.ContactID)
	}
	if call.MenuID != nil {
		if m, err := s.menu(ctx, tenantID, *call.MenuID); err == nil {
			return s.gather(tenantID, m.Tree, "", 1, ""), nil
		}
	}
	if call.QueueID != nil {
		return s.enqueue(ctx, tenantID, call, *call.QueueID, "")
	}
	return apology(sayNotInService), nil
}

// replayed answers a retried incoming call as the first delivery did.
func (s *Service) replayed(ctx context.Context, tenantID, contactID uuid.UUID) (*TwiML, error) {
	c, err := s.Contacts.GetByID(ctx, tenantID, contactID)
	if err != nil {
		return nil, err
	}
	switch c.State {
	case contacts.StateNoCredit:
		return apology(sayUnavailable), nil
	case contacts.StateNew, contacts.StateQueued, contacts.StateOffered, contacts.StateAccepted:
		return s.holdLoop(tenantID, contactID, sayStillHolding, c.State == contacts.StateQueued), nil
	}
	return apology(sayGoodbye), nil
}

// gather says a menu's prompt and waits for a key; a caller who presses
// none comes back with timeout=1.
func (s *Service) gather(tenantID uuid.UUID, n *Node, path string, try int, before string) *TwiML {
	t := new(TwiML)
	if before != "" {
		t.Say(before)
	}
	t.Gather(n.Prompt, n.Wait(), s.url(tenantID, StepIVR, q("node", path, "try", strconv.Itoa(try))))
	t.Redirect(s.url(tenantID, StepIVR, q("node", path, "try", strconv.Itoa(try), "timeout", "1")))
	return t
}

// ivrStep: the caller pressed a key in the menu at node (or pressed none).
func (s *Service) ivrStep(ctx context.Context, tenantID uuid.UUID, sid string, query, f url.Values) (*TwiML, error) {
	call, err := s.callBySID(ctx, tenantID, sid)
	if err != nil {
		return nil, err
	}
	// A replayed key press runs again: opening the contact (by the call's
	// id) and self-service (ResolveAutomated) are idempotent.
	if call.MenuID == nil {
		return apology(sayError), nil
	}
	m, err := s.menu(ctx, tenantID, *call.MenuID)
	if err != nil {
		return nil, err
	}
	path := query.Get("node")
	node, ok := m.Tree.At(path)
	if !ok || node.IsLeaf() {
		// The menu changed under the call, or the URL was forged: start over.
		return s.gather(tenantID, m.Tree, "", 1, ""), nil
	}
	try, _ := strconv.Atoi(query.Get("try"))
	try = max(1, min(try, MaxTries))
	digits := strings.TrimSpace(f.Get("Digits"))
	if digits == "" || query.Get("timeout") == "1" {
		return s.silent(ctx, tenantID, call, m.Tree, node, path, try)
	}
	key := digits[:1]
	child := node.Options[key]
	if !validKey(key) || child == nil {
		if try >= MaxTries {
			return s.fallback(ctx, tenantID, call, path)
		}
		return s.gather(tenantID, node, path, try+1, sayNoOption), nil
	}
	return s.enter(ctx, tenantID, call, child, path+key)
}

// enter takes the caller to a node: a sub-menu is asked, a leaf is done.
func (s *Service) enter(ctx context.Context, tenantID uuid.UUID, call Call, n *Node, path string) (*TwiML, error) {
	if !n.IsLeaf() {
		return s.gather(tenantID, n, path, 1, ""), nil
	}
	return s.perform(ctx, tenantID, call, n.Action, path)
}

// silent: the caller pressed nothing at node.
func (s *Service) silent(ctx context.Context, tenantID uuid.UUID, call Call, root, node *Node, path string, try int) (*TwiML, error) {
	if node.Timeout != nil {
		return s.enter(ctx, tenantID, call, node.Timeout, path+string(TimeoutStep))
	}
	if try < MaxTries {
		return s.gather(tenantID, node, path, try+1, ""), nil
	}
	return s.fallback(ctx, tenantID, call, path)
}

// fallback is where a caller goes who never chose: the number's own
// queue, if it has one, or goodbye.
func (s *Service) fallback(ctx context.Context, tenantID uuid.UUID, call Call, path string) (*TwiML, error) {
	if call.QueueID != nil {
		return s.enqueue(ctx, tenantID, call, *call.QueueID, path)
	}
	return apology(sayGoodbye), nil
}

// perform does a leaf's action.
func (s *Service) perform(ctx context.Context, tenantID uuid.UUID, call Call, a *Action, path string) (*TwiML, error) {
	switch a.Type {
	case ActionQueue:
		if a.QueueID == nil {
			return apology(sayError), nil
		}
		return s.enqueue(ctx, tenantID, call, *a.QueueID, path)
	case ActionSelfService:
		if a.Metered {
			in := contacts.OpenInput{ID: conversation.ContactID(tenantID, Name, call.SID), Channel: Name,
				CustomerID: s.customerOf(ctx, tenantID, call.From), Subject: call.From, CustomerRef: clip(call.From, 200)}
			c, err := s.Contacts.ResolveAutomated(ctx, tenantID, in, map[string]any{"ivr_path": path, "self_service": true})
			if err != nil {
				return nil, err
			}
			if err := s.updateCall(ctx, tenantID, call.SID, `contact_id = $3`, c.ID); err != nil {
				return nil, err
			}
		}
		return apology(a.Message), nil
	case ActionHangup:
		return apology(a.Message), nil
	}
	return apology(sayError), nil
}

// enqueue opens the call's contact in a queue and puts the caller on the
// hold loop; the block policy and a closed queue are announced.
func (s *Service) enqueue(ctx context.Context, tenantID uuid.UUID, call Call, queueID uuid.UUID, path string) (*TwiML, error) {
	id := conversation.ContactID(tenantID, Name, call.SID)
	in := contacts.OpenInput{ID: id, Channel: Name, QueueID: queueID, CustomerID: s.customerOf(ctx, tenantID, call.From),
		Subject: call.From, CustomerRef: clip(call.From, 200)}
	c, err := s.Contacts.Open(ctx, tenantID, in)
	if c.ID != uuid.Nil {
		// Recorded even when refused for lack of credit: nothing is lost.
		if uerr := s.updateCall(ctx, tenantID, call.SID, `contact_id = $3, queue_id = coalesce(queue_id, $4)`, c.ID, queueID); uerr != nil {
			return nil, uerr
		}
	}
	if err != nil {
		e, _ := cic.AsError(err)
		switch {
		case e != nil && e.Code == "service_unavailable":
			return apology(sayUnavailable), nil
		case e != nil && e.Code == "queue_closed":
			return s.closedVoicemail(ctx, tenantID, call, queueID, e.Message)
		case cic.ErrorKind(err) == cic.EINVALID || cic.ErrorKind(err) == cic.ENOTFOUND:
			s.Logger.Warn("ivr leads to a queue that takes no calls", "tenant", tenantID, "queue", queueID, "err", err)
			return apology(sayError), nil
		}
		return nil, err
	}
	if path != "" {
		s.Logger.Debug("caller queued from ivr", "tenant", tenantID, "contact", c.ID, "path", path)
	}
	return s.queuedLoop(ctx, tenantID, call, c.ID, nil, sayHold, c.State == contacts.StateQueued && c.Kind != contacts.KindCallback)
}

// holdLoop keeps a queued caller waiting, asking /wait again now and then;
// a caller still waiting for an offer (callback) hears the callback offer.
func (s *Service) holdLoop(tenantID, contactID uuid.UUID, say string, callback bool) *TwiML {
	t := new(TwiML).Say(say)
	if callback {
		s.offerCallback(t, tenantID, contactID)
	}
	if s.HoldMusic != "" {
		t.Play(s.HoldMusic)
	} else {
		t.Pause(s.holdSeconds())
	}
	return t.Redirect(s.url(tenantID, StepWait, q("contact", contactID.String())))
}

// callContact reads the call and checks the contact in the URL is its
// own: a URL of one call replayed on another leads nowhere.
func (s *Service) callContact(ctx context.Context, tenantID uuid.UUID, sid string, query url.Values) (Call, contacts.Contact, error) {
	call, err := s.callBySID(ctx, tenantID, sid)
	if err != nil {
		return Call{}, contacts.Contact{}, err
	}
	id, err := uuid.Parse(query.Get("contact"))
	if err != nil || call.ContactID == nil || *call.ContactID != id {
		return Call{}, contacts.Contact{}, cic.Codef(cic.EINVALID, "wrong_contact", "The contact is not this call's.")
	}
	c, err := s.Contacts.GetByID(ctx, tenantID, id)
	return call, c, err
}

// wait: the queued caller's hold loop came round; an accepted contact is
// put through to its agent's softphone.
func (s *Service) wait(ctx context.Context, tenantID uuid.UUID, sid string, query url.Values) (*TwiML, error) {
	call, c, err := s.callContact(ctx, tenantID, sid, query)
	if err != nil {
		return nil, err
	}
	switch c.State {
	case contacts.StateQueued:
		// A callback's customer (transferred on) is called back already.
		return s.queuedLoop(ctx, tenantID, call, c.ID, query, sayStillHolding, c.Kind != contacts.KindCallback)
	case contacts.StateNew, contacts.StateOffered:
		return s.holdLoop(tenantID, c.ID, sayStillHolding, false), nil
	case contacts.StateAccepted:
		if c.AgentID == nil {
			return s.holdLoop(tenantID, c.ID, sayStillHolding, false), nil
		}
		if call.Held {
			return s.holdMusic(tenantID, c.ID), nil
		}
		return new(TwiML).DialClient(AgentClient(*c.AgentID), s.url(tenantID, StepSurvey, q("contact", c.ID.String()))), nil
	case contacts.StateWrapUp, contacts.StateClosed:
		return new(TwiML).Redirect(s.url(tenantID, StepSurvey, q("contact", c.ID.String()))), nil
	}
	return apology(sayNoAgent), nil
}

// AgentClient is the softphone client name of an agent.
func AgentClient(agentID uuid.UUID) string { return "agent-" + agentID.String() }

// holdMusic is what a caller the agent put on hold hears, in a loop.
func (s *Service) holdMusic(tenantID, contactID uuid.UUID) *TwiML {
	t := new(TwiML).Say(sayOnHold)
	if s.HoldMusic != "" {
		t.Play(s.HoldMusic)
	} else {
		t.Pause(2 * s.holdSeconds())
	}
	return t.Redirect(s.url(tenantID, StepHold, q("contact", contactID.String())))
}

// onHold: the hold loop of a caller the agent put on hold.
func (s *Service) onHold(ctx context.Context, tenantID uuid.UUID, sid string, query url.Values) (*TwiML, error) {
	call, c, err := s.callContact(ctx, tenantID, sid, query)
	if err != nil {
		return nil, err
	}
	if !call.Held || c.State != contacts.StateAccepted {
		return new(TwiML).Redirect(s.url(tenantID, StepWait, q("contact", c.ID.String()))), nil
	}
	return s.holdMusic(tenantID, c.ID), nil
}

// outbound: the customer answered a call an agent placed; put them
// through to the agent.
func (s *Service) outbound(ctx context.Context, tenantID uuid.UUID, sid string, query url.Values) (*TwiML, error) {
	_, c, err := s.callContact(ctx, tenantID, sid, query)
	if err != nil {
		return nil, err
	}
	if c.Kind == contacts.KindCallback {
		if err := s.Contacts.CallbackConnected(ctx, tenantID, c.ID, sid); err != nil {
			return nil, err
		}
	}
	if c.State != contacts.StateAccepted || c.AgentID == nil {
		return apology(sayGoodbye), nil
	}
	return new(TwiML).DialClient(AgentClient(*c.AgentID), s.url(tenantID, StepSurvey, q("contact", c.ID.String()))), nil
}

// Terminal call statuses.
var ended = map[string]bool{"completed": true, "no-answer": true, "busy": true, "failed": true, "canceled": true}

var knownStatus = map[string]bool{"queued": true, "initiated": true, "ringing": true, "in-progress": true, "answered": true,
	"completed": true, "no-answer": true, "busy": true, "failed": true, "canceled": true}

// status: the provider reports a call's progress. Each (call, status) is
// handled once: a replay changes nothing.
func (s *Service) status(ctx context.Context, tenantID uuid.UUID, sid string, f url.Values) (*TwiML, error) {
	st := f.Get("CallStatus")
	if !knownStatus[st] {
		return new(TwiML), nil
	}
	receipt := "voice:" + sid + ":status:" + st
	var call Call
	var fresh, known bool
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		call, err = scanCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM voice_calls WHERE tenant_id = $1 AND call_sid = $2 FOR UPDATE`, tenantID, sid))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a call we never answered (or another's): nothing to change
		}
		if err != nil {
			return err
		}
		known = true
		if fresh, err = conversation.Receipt(ctx, tx, tenantID, directory.Twilio, receipt); err != nil || !fresh {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE voice_calls SET status = $3, updated_at = now(),
			ended_at = CASE WHEN $4 THEN coalesce(ended_at, now()) ELSE ended_at END WHERE tenant_id = $1 AND call_sid = $2`,
			tenantID, sid, st, ended[st])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("call status: %w", err)
	}
	if !known || !fresh || call.ContactID == nil {
		return new(TwiML), nil
	}
	handled, err := s.callbackStatus(ctx, tenantID, call, st)
	if err == nil && !handled && ended[st] {
		err = s.callEnded(ctx, tenantID, *call.ContactID, st)
	}
	if err != nil {
		// Forget the receipt, so the provider's retry does it again.
		if ferr := s.forget(ctx, tenantID, receipt); ferr != nil {
			s.Logger.Error("forget receipt", "tenant", tenantID, "receipt", receipt, "err", ferr)
		}
		return nil, err
	}
	return new(TwiML), nil
}

// callEnded records the end of a call on its contact: a caller who hung
// up while waiting abandoned (not metered); after an agent answered, it
// is a hang-up on the timeline.
func (s *Service) callEnded(ctx context.Context, tenantID, contactID uuid.UUID, st string) error {
	c, err := s.Contacts.GetByID(ctx, tenantID, contactID)
	if err != nil {
		return err
	}
	switch c.State {
	case contacts.StateNew, contacts.StateQueued, contacts.StateOffered:
		if vm, err := s.isVoicemail(ctx, tenantID, contactID); err != nil || vm {
			return err // a voicemail waits for an agent (waiting.go)
		}
		return s.Contacts.Abandon(ctx, tenantID, contactID)
	case contacts.StateAccepted, contacts.StateWrapUp, contacts.StateClosed:
		return s.Contacts.AddEvent(ctx, tenantID, contactID, "hangup", nil, map[string]any{"by": "caller", "status": st})
	}
	return nil
}

func (s *Service) forget(ctx context.Context, tenantID uuid.UUID, receipt string) error {
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM webhook_receipts WHERE tenant_id = $1 AND provider = $2 AND external_id = $3`,
			tenantID, directory.Twilio, receipt)
		return err
	})
}

// survey: the agent left; the caller rates the help with one key.
func (s *Service) survey(ctx context.Context, tenantID uuid.UUID, sid string, query, f url.Values) (*TwiML, error) {
	call, c, err := s.callContact(ctx, tenantID, sid, query)
	if err != nil {
		return nil, err
	}
	try, _ := strconv.Atoi(query.Get("try"))
	digits := strings.TrimSpace(f.Get("Digits"))
	ask := func(try int, before string) *TwiML {
		t := new(TwiML)
		if before != "" {
			t.Say(before)
		}
		next := q("contact", c.ID.String(), "try", strconv.Itoa(try))
		t.Gather(sayAskScore, 8, s.url(tenantID, StepSurvey, next))
		next.Set("timeout", "1")
		return t.Redirect(s.url(tenantID, StepSurvey, next))
	}
	if try == 0 { // the caller just arrived here
		started, err := s.Surveys.StartSurvey(ctx, tenantID, c.ID, Name)
		if err != nil {
			return nil, err
		}
		if !started && call.Survey != "asked" {
			return apology(sayGoodbye), nil
		}
		if err := s.updateCall(ctx, tenantID, sid, `survey = 'asked'`); err != nil {
			return nil, err
		}
		return ask(1, ""), nil
	}
	if digits == "" || query.Get("timeout") == "1" {
		if try >= MaxTries {
			return apology(sayGoodbye), nil
		}
		return ask(try+1, ""), nil
	}
	score, ok := 0, false
	if len(digits) == 1 && digits[0] >= '1' && digits[0] <= '5' {
		score, ok = int(digits[0]-'0'), true
	}
	if !ok {
		if try >= MaxTries {
			return apology(sayGoodbye), nil
		}
		return ask(try+1, sayNoOption), nil
	}
	if err := s.Surveys.Answer(ctx, tenantID, c.ID, score); err != nil && cic.ErrorKind(err) != cic.ECONFLICT {
		return nil, err
	}
	return apology(sayThanksScore), nil
}
