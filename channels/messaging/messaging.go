// Package messaging is what the SMS, social and fax channels share: a
// customer's message to one of a tenant's addresses becomes a contact (or
// joins the customer's open one, or answers their survey), an answer goes
// out through the provider and is recorded with how its delivery went,
// and the signed JSON scheme of the social and fax providers.
//
// Invariants: a provider's message is stored once however often it is
// delivered (its id is the message's external id and names the contact it
// opens); a message is stored even when the tenant's policy blocks new
// contacts (on the contact recorded as rejected), so nothing received is
// lost.
package messaging

import (
	"log/slog"
	"strings"

	"github.com/cic-platform/cic/channels/conversation"
	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/routing/contacts"
	"github.com/cic-platform/cic/tenant"
)

// UnavailableReply is what a customer is told when the tenant's policy
// blocks new contacts and none are left.
const UnavailableReply = "We are sorry: the service is unavailable at the moment. Your message has been kept; please try again later."

// Flow receives and sends the messages of one channel's conversations.
type Flow struct {
	DB            *tenant.DB
	Contacts      *contacts.Service
	Customers     *customer.Service
	Conversations *conversation.Store
	Directory     *directory.Directory
	Log           *slog.Logger
}

// Logger is the flow's logger, or slog's default.
func (f *Flow) Logger() *slog.Logger {
	if f.Log == nil {
		return slog.Default()
	}
	return f.Log
}

// Text makes provider text storable: valid UTF-8 without NUL bytes
// (PostgreSQL's text and jsonb take neither).
func Text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
