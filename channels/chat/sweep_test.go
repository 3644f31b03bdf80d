package chat_test

import (
	"testing"
	"time"

	"github.com/cic-platform/cic/infra/testenv"
)

// TestChatSweep_AbandonsVisitorsGoneWhileWaiting: a waiting visitor not
// seen for the grace period (their replica died with its timer) is
// abandoned by the sweep; a fresh one is left alone.
func TestChatSweep_AbandonsVisitorsGoneWhileWaiting(t *testing.T) {
	w := newWorld(t)
	co := w.company(t, "acme", 0) // no agent: chats wait
	c := testenv.Context(t)
	gone := w.start(t, co)
	fresh := w.start(t, co)
	if _, err := w.db.Owner.Exec(c, `UPDATE chat_sessions SET last_seen_at = now() - interval '10 minutes'
		WHERE tenant_id = $1 AND contact_id = $2`, gone.TenantID, gone.ContactID); err != nil {
		t.Fatal(err)
	}
	if err := w.chat.SweepGone(c, co.owner.TenantID, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := w.state(t, co.owner.TenantID, gone.ContactID); st != "abandoned" {
		t.Errorf("unseen visitor's contact is %s, want abandoned", st)
	}
	if st := w.state(t, co.owner.TenantID, fresh.ContactID); st != "queued" {
		t.Errorf("fresh visitor's contact is %s, want queued", st)
	}
}
