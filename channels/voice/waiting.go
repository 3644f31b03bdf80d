package voice

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/routing/contacts"
)

// The waiting caller: the hold loop tells them their place in line and
// expected wait (routing/contacts/position.go) when they are queued and
// then every announce_every_seconds of their queue (0: never); the time
// of the last announcement travels in the loop's URL ("said", Unix
// seconds), so the loop needs no state of its own.
//
// Voicemail: a caller whose queue is outside its business hours, or who
// has waited past the queue's max_wait_seconds, is asked to leave a
// message (<Record>). The recording becomes a contact on the queue, with
// the audio's URL on its timeline ("voicemail"): outside hours a new
// contact queued for the opening (as mail is); past the max wait the
// caller's own contact, which keeps its place and is not abandoned when
// the caller hangs up. The Record's action (StepVoicemail) and its
// recording status callback (StepRecording) both deliver the recording;
// it is recorded once per recording.

const (
	// StepVoicemail is the Record's action: the caller finished.
	StepVoicemail = "voicemail"
	// StepRecording is the recording status callback.
	StepRecording = "recording"
)

func init() { Steps = append(Steps, StepVoicemail, StepRecording) }

const (
	sayLeaveMessage = "Please leave your name, number and message after the tone, then press the hash key or hang up."
	sayTooLong      = "Sorry for the long wait. You can leave a message instead, and we will call you back."
	sayThanksVM     = "Thank you for your message. We will get back to you. Goodbye."
	// VoicemailMaxSeconds is the longest voicemail.
	VoicemailMaxSeconds = 120
)

// sayPlace is the announcement of a place in line.
func sayPlace(pl contacts.Place) string {
	var b strings.Builder
	if pl.Position == 1 {
		b.WriteString("You are next in line.")
	} else {
		fmt.Fprintf(&b, "You are number %d in line.", pl.Position)
	}
	switch m := (pl.WaitSeconds() + 59) / 60; {
	case pl.WaitSeconds() < 60:
		b.WriteString(" The expected wait is less than a minute.")
	case m == 1:
		b.WriteString(" The expected wait is about 1 minute.")
	default:
		fmt.Fprintf(&b, " The expected wait is about %d minutes.", m)
	}
	return b.String()
}

// queuedLoop is the hold loop of a queued caller: said first, the place
// in line when it is due, or the offer of a voicemail when nobody can
// take the call now.
func (s *Service) queuedLoop(ctx context.Context, tenantID uuid.UUID, call Call, contactID uuid.UUID, query url.Values, say string, callback bool) (*TwiML, error) {
	pl, err := s.Contacts.PlaceOf(ctx, tenantID, contactID)
	if err != nil {
		return nil, err
	}
	if pl.Position > 0 && (!pl.Open || pl.MaxWaitPassed) {
		// Its contact waits on: a hang-up during the recording is not
		// an abandoned call.
		if err := s.updateCall(ctx, tenantID, call.SID, `voicemail = true`); err != nil {
			return nil, err
		}
		return s.voicemailPrompt(tenantID, contactID.String(), "", sayTooLong), nil
	}
	now := s.now()
	said, _ := strconv.ParseInt(query.Get("said"), 10, 64)
	t := new(TwiML).Say(say)
	if every := pl.Queue.AnnounceEvery; pl.Position > 0 && every > 0 && (said == 0 || now.Unix()-said >= int64(every)) {
		t.Say(sayPlace(pl))
		said = now.Unix()
	}
	if callback {
		s.offerCallback(t, tenantID, contactID)
	}
	if s.HoldMusic != "" {
		t.Play(s.HoldMusic)
	} else {
		t.Pause(s.holdSeconds())
	}
	next := q("contact", contactID.String())
	if said > 0 {
		next.Set("said", strconv.FormatInt(said, 10))
	}
	return t.Redirect(s.url(tenantID, StepWait, next)), nil
}

func (s *Service) now() time.Time {
	if s.Contacts != nil && s.Contacts.Now != nil {
		return s.Contacts.Now()
	}
	return time.Now()
}

// voicemailPrompt asks for a message: for the caller's contact, or (no
// contact yet, the queue closed) for a new one on queue.
func (s *Service) voicemailPrompt(tenantID uuid.UUID, contactID, queueID, before string) *TwiML {
	next := q("contact", contactID, "queue", queueID)
	if contactID == "" {
		next.Del("contact")
	}
	if queueID == "" {
		next.Del("queue")
	}
	t := new(TwiML)
	if before != "" {
		t.Say(before)
	}
	return t.Say(sayLeaveMessage).Record(s.url(tenantID, StepVoicemail, next), s.url(tenantID, StepRecording, next), VoicemailMaxSeconds, 10)
}

// closedVoicemail answers a call to a closed queue: its closed message,
// then the voicemail.
func (s *Service) closedVoicemail(ctx context.Context, tenantID uuid.UUID, call Call, queueID uuid.UUID, msg string) (*TwiML, error) {
	// No contact yet: the recording makes it. A hang-up before is no
	// abandoned call (there is nothing to abandon).
	if err := s.updateCall(ctx, tenantID, call.SID, `voicemail = true, queue_id = coalesce(queue_id, $3)`, queueID); err != nil {
		return nil, err
	}
	return s.voicemailPrompt(tenantID, "", queueID.String(), msg), nil
}

// validRecordingSID is the Recording resource's sid (Twilio's API
// description: ^RE[0-9a-fA-F]{32}$).
var validRecordingSID = regexp.MustCompile(`^RE[0-9a-fA-F]{32}$`)

// recordingURL is the recording's URL as the provider gives it: http(s),
// with a host, at most 1,000 characters.
func recordingURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 1000 || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", false
	}
	return u.String(), true
}

// voicemail: the provider delivers a recording (the Record's action, or
// its status callback). The caller hears thanks and goodbye.
func (s *Service) voicemail(ctx context.Context, tenantID uuid.UUID, sid, step string, query, f url.Values) (*TwiML, error) {
	bye := apology(sayThanksVM)
	if step == StepRecording {
		bye = new(TwiML) // a callback: nobody listens
		if f.Get("RecordingStatus") != "completed" {
			return bye, nil // absent: nothing was recorded
		}
	}
	recSID := f.Get("RecordingSid")
	audio, ok := recordingURL(f.Get("RecordingUrl"))
	if !ok || !validRecordingSID.MatchString(recSID) {
		if step == StepVoicemail {
			return apology(sayGoodbye), nil // the caller said nothing
		}
		return bye, nil
	}
	dur, err := strconv.Atoi(f.Get("RecordingDuration"))
	if err != nil || dur < 0 || dur > 24*3600 {
		dur = 0
	}
	call, err := s.callBySID(ctx, tenantID, sid)
	if err != nil {
		return nil, err
	}
	var contactID uuid.UUID
	if raw := query.Get("contact"); raw != "" {
		// The caller's own contact (past the max wait).
		id, err := uuid.Parse(raw)
		if err != nil || call.ContactID == nil || *call.ContactID != id {
			return nil, cic.Codef(cic.EINVALID, "wrong_contact", "The contact is not this call's.")
		}
		contactID = id
	} else {
		// Outside hours: a new contact on the queue, queued for the
		// opening; its id derives from the call, so a second delivery
		// finds it.
		queueID, err := uuid.Parse(query.Get("queue"))
		if err != nil || (call.QueueID != nil && *call.QueueID != queueID && call.MenuID == nil) {
			return nil, cic.Codef(cic.EINVALID, "wrong_queue", "The queue is not this call's.")
		}
		in := contacts.OpenInput{ID: conversation.ContactID(tenantID, Name, call.SID), Channel: Name, QueueID: queueID,
			CustomerID: s.customerOf(ctx, tenantID, call.From), Subject: "Voicemail from " + call.From,
			CustomerRef: clip(call.From, 200), AfterHours: true}
		c, err := s.Contacts.Open(ctx, tenantID, in)
		if err != nil && c.ID == uuid.Nil {
			if _, gerr := s.Contacts.GetByID(ctx, tenantID, in.ID); gerr != nil {
				return nil, err
			}
		}
		contactID = in.ID
		if err := s.updateCall(ctx, tenantID, call.SID, `contact_id = $3, voicemail = true`, contactID); err != nil {
			return nil, err
		}
	}
	var fresh bool
	err = s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		fresh, err = conversation.Receipt(ctx, tx, tenantID, directory.Twilio, "voice:"+sid+":recording:"+recSID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recording receipt: %w", err)
	}
	if fresh {
		if err := s.Contacts.AddEvent(ctx, tenantID, contactID, "voicemail", nil, map[string]any{
			"recording_url": audio, "recording_sid": recSID, "duration_seconds": dur, "from": call.From}); err != nil {
			return nil, err
		}
	}
	return bye, nil
}

// isVoicemail says the contact's call ended in a voicemail: its contact
// waits for an agent although the caller hung up.
func (s *Service) isVoicemail(ctx context.Context, tenantID, contactID uuid.UUID) (bool, error) {
	var vm bool
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT voicemail FROM voice_calls WHERE tenant_id = $1 AND contact_id = $2`, tenantID, contactID).Scan(&vm)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	return vm, err
}
