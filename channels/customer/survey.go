package customer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/tenant"
)

// SurveyQuestion is the one question, asked on the contact's channel.
const SurveyQuestion = "How satisfied are you with the help you got? Please answer with a number from 1 (not at all) to 5 (very)."

// SurveyWindow is how long after it is sent a survey takes an answer.
const SurveyWindow = 72 * time.Hour

// Surveys sends the satisfaction survey after a contact closes and takes
// the customer's answer.
type Surveys struct {
	DB       *tenant.DB
	Channels *channels.Registry
}

// ContactClosed sends the survey for a contact that just closed, on its
// channel, once: handled contacts of a known customer who has not opted
// out. Calls are surveyed by the voice channel itself when the agent
// leaves the call (the caller stays on the line for it); its Send takes
// the survey too.
func (s *Surveys) ContactClosed(ctx context.Context, tenantID uuid.UUID, contactID uuid.UUID, channel string) error {
	var send bool
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		var customerID *uuid.UUID
		var accepted *time.Time
		var opt []string
		err := tx.QueryRow(ctx, `SELECT c.customer_id, c.accepted_at, coalesce(cu.opt_outs, '{}') FROM contacts c
			LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id
			WHERE c.tenant_id = $1 AND c.id = $2 AND c.state = 'closed'`, tenantID, contactID).Scan(&customerID, &accepted, &opt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, o := range opt {
			if o == NoSurveys {
				return nil
			}
		}
		if accepted == nil {
			return nil // never handled: nothing to rate
		}
		tag, err := tx.Exec(ctx, `INSERT INTO csat_surveys (tenant_id, contact_id, channel, customer_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, tenantID, contactID, channel, customerID)
		if err != nil {
			return fmt.Errorf("record survey: %w", err)
		}
		send = tag.RowsAffected() == 1
		return nil
	})
	if err != nil || !send {
		return err
	}
	return s.Channels.Send(ctx, channel, channels.Message{TenantID: tenantID, ContactID: contactID, Kind: channels.KindSurvey,
		Subject: "How did we do?", Body: SurveyQuestion})
}

// ParseScore reads an answer to the survey: a lone digit from 1 to 5,
// possibly with spaces, a full stop, or a quoted reply below it (e-mail);
// ok is false for anything else.
func ParseScore(text string) (int, bool) {
	for line := range strings.SplitSeq(strings.ReplaceAll(text, "\r", ""), "\n") {
		l := strings.TrimSpace(line)
		if l == "" {
			continue
		}
		l = strings.TrimRight(l, ".!")
		if len(l) == 1 && l[0] >= '1' && l[0] <= '5' {
			return int(l[0] - '0'), true
		}
		if strings.HasSuffix(l, "/5") && len(l) == 3 && l[0] >= '1' && l[0] <= '5' {
			return int(l[0] - '0'), true
		}
		return 0, false // the first non-empty line decides
	}
	return 0, false
}

// AnswerPending takes text from a customer on channel as the answer to
// their newest open survey there, when it is one (a lone 1 to 5 within
// SurveyWindow); handled says the text was used up and opens no contact.
func AnswerPending(ctx context.Context, tx pgx.Tx, tenantID, customerID uuid.UUID, channel, text string) (handled bool, err error) {
	score, ok := ParseScore(text)
	if !ok {
		return false, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE csat_surveys SET score = $4, answered_at = now()
		WHERE tenant_id = $1 AND contact_id = (SELECT contact_id FROM csat_surveys WHERE tenant_id = $1 AND customer_id = $2
			AND channel = $3 AND score IS NULL AND sent_at > now() - $5::interval ORDER BY sent_at DESC LIMIT 1)`,
		tenantID, customerID, channel, score, fmt.Sprintf("%d seconds", int(SurveyWindow.Seconds())))
	if err != nil {
		return false, fmt.Errorf("survey answer: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Answer records the score of a contact's survey (the chat widget's
// buttons, a caller's key press). A survey is answered once.
func (s *Surveys) Answer(ctx context.Context, tenantID, contactID uuid.UUID, score int) error {
	if score < 1 || score > 5 {
		return cic.Codef(cic.EINVALID, "invalid_score", "The answer is a number from 1 to 5.")
	}
	return s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE csat_surveys SET score = $3, answered_at = now()
			WHERE tenant_id = $1 AND contact_id = $2 AND score IS NULL`, tenantID, contactID, score)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return cic.Codef(cic.ECONFLICT, "survey_closed", "There is no open survey for this conversation.")
		}
		return nil
	})
}

// StartSurvey records a survey for a contact a channel surveys itself
// (a call: the caller is asked before hanging up); false when there is
// nothing to ask (already asked, opted out, never handled).
func (s *Surveys) StartSurvey(ctx context.Context, tenantID, contactID uuid.UUID, channel string) (bool, error) {
	var started bool
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO csat_surveys (tenant_id, contact_id, channel, customer_id)
			SELECT c.tenant_id, c.id, $3, c.customer_id FROM contacts c
			LEFT JOIN customers cu ON cu.tenant_id = c.tenant_id AND cu.id = c.customer_id
			WHERE c.tenant_id = $1 AND c.id = $2 AND c.accepted_at IS NOT NULL AND NOT ($4 = ANY (coalesce(cu.opt_outs, '{}')))
			ON CONFLICT DO NOTHING`, tenantID, contactID, channel, NoSurveys)
		if err != nil {
			return err
		}
		started = tag.RowsAffected() == 1
		return nil
	})
	return started, err
}

// Scores returns the answered survey scores of a customer's contacts, by
// contact id (the desk's timeline shows them).
func (s *Service) Scores(ctx context.Context, tenantID, customerID uuid.UUID) (map[string]int, error) {
	out := map[string]int{}
	err := s.DB.Tx(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT contact_id, score FROM csat_surveys WHERE tenant_id = $1 AND customer_id = $2
			AND score IS NOT NULL ORDER BY answered_at DESC LIMIT 500`, tenantID, customerID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var score int
			if err := rows.Scan(&id, &score); err != nil {
				return err
			}
			out[id.String()] = score
		}
		return rows.Err()
	})
	return out, err
}
