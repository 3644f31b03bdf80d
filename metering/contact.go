package metering

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Channels a contact may come over.
var Channels = []string{"chat", "email", "voice", "sms", "social", "fax"}

// HandledContact is one contact that was handled (accepted by an agent or
// resolved by automation), with its chargeback dimensions.
type HandledContact struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Direction  string    `json:"direction"`
	HandledAt  time.Time `json:"handled_at"`
	Queue      string    `json:"queue"`
	Department string    `json:"department"`
	Campaign   string    `json:"campaign"`
	Agent      string    `json:"agent"`
	// QueueCostCentre is the queue's cost centre; empty: the cost centre
	// of the tenant's queue named Queue, if there is one.
	QueueCostCentre string `json:"queue_cost_centre"`
}

// ItemError is why one contact of a batch was refused; the others go on.
type ItemError struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Result answers a Meter call: which ids were metered now, which had been
// metered before (harmless re-sends), which were refused.
type Result struct {
	Accepted   []string    `json:"accepted"`
	Duplicates []string    `json:"duplicates"`
	Errors     []ItemError `json:"errors"`
}

// Sources of meter records.
const (
	SourceRouting = "routing"
	SourceAPI     = "api"
)

func validChannel(c string) bool {
	for _, k := range Channels {
		if c == k {
			return true
		}
	}
	return false
}

func cleanDim(s string) (string, bool) {
	s = strings.TrimSpace(s)
	return s, utf8.RuneCountInString(s) <= 200 && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// validate normalises c and says what is wrong with it, if anything.
// handled_at may be at most a day in the future (clock skew) and no
// older than a year.
func validate(c *HandledContact, now time.Time) *ItemError {
	bad := func(code, msg string) *ItemError { return &ItemError{ID: c.ID, Code: code, Message: msg} }
	if c.ID == "" || len(c.ID) > 128 || !utf8.ValidString(c.ID) || strings.ContainsRune(c.ID, 0) {
		return bad("invalid_id", "id must be 1 to 128 bytes of text.")
	}
	c.Channel = strings.ToLower(strings.TrimSpace(c.Channel))
	if !validChannel(c.Channel) {
		return bad("invalid_channel", "channel must be one of "+strings.Join(Channels, ", ")+".")
	}
	c.Direction = strings.ToLower(strings.TrimSpace(c.Direction))
	if c.Direction == "" {
		c.Direction = "inbound"
	}
	if c.Direction != "inbound" && c.Direction != "outbound" {
		return bad("invalid_direction", "direction must be inbound or outbound.")
	}
	if c.HandledAt.IsZero() {
		return bad("missing_handled_at", "handled_at is required (RFC 3339).")
	}
	if c.HandledAt.After(now.Add(24*time.Hour)) || c.HandledAt.Before(now.Add(-366*24*time.Hour)) {
		return bad("invalid_handled_at", "handled_at must be within the last year and not in the future.")
	}
	for _, d := range []*string{&c.Queue, &c.Department, &c.Campaign, &c.Agent, &c.QueueCostCentre} {
		v, ok := cleanDim(*d)
		if !ok {
			return bad("invalid_dimension", "queue, department, campaign, agent and queue_cost_centre must be text of at most 200 characters.")
		}
		*d = v
	}
	return nil
}

// request is one caller's batch waiting for a group commit.
type request struct {
	tenant   uuid.UUID
	source   string
	contacts []HandledContact
	done     chan outcome
}

type outcome struct {
	accepted, duplicates []string
	errors               []ItemError
	err                  error
}
