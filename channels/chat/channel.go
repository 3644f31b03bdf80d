package chat

import (
	"context"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/customer"
)

// Channel is chat as the channel registry takes it: desk replies go
// through AgentSend over the socket, so Send here carries what the system
// says (the survey after close); chats are only started by visitors.
type Channel struct{ S *Service }

// Name is "chat".
func (Channel) Name() string { return "chat" }

// Send posts a system message to the conversation, also after it ended
// (the survey), for the visitor's widget to show.
func (c Channel) Send(ctx context.Context, msg channels.Message) error {
	if msg.IsAnswer() {
		// Answers are an agent's, through AgentSend; one that comes this
		// way still follows the rule.
		if err := c.S.Contacts.BeforeAnswer(ctx, msg.TenantID, msg.ContactID); err != nil {
			return err
		}
	}
	_, _, err := c.S.appendMessage(ctx, msg.TenantID, msg.ContactID, appendInput{sender: SenderSystem,
		clientID: msg.Kind + ":" + msg.ContactID.String(), body: msg.Body, anyState: true})
	return err
}

// Start refuses: a chat is opened by the visitor, from the widget.
func (Channel) Start(context.Context, channels.Outbound) (uuid.UUID, error) {
	return uuid.Nil, cic.Codef(cic.EINVALID, "invalid_channel", "A chat is started by the visitor, from the chat widget.")
}

// AnswerSurvey records the visitor's answer to the survey after their
// chat closed (the widget's 1 to 5 buttons).
func (s *Service) AnswerSurvey(ctx context.Context, v Visitor, score int) error {
	return (&customer.Surveys{DB: s.DB}).Answer(ctx, v.TenantID, v.ContactID, score)
}
