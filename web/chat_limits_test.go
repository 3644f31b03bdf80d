package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cic-platform/cic/channels/chat"
)

// TestChat_VisitorFloodIsRefusedWithAClearError: a visitor's socket past
// the message rate gets an error frame the widget shows (its code and a
// sentence saying when to send again); what was refused is not stored.
func TestChat_VisitorFloodIsRefusedWithAClearError(t *testing.T) {
	ts := newServer(t)
	base := ts.listen(t)
	rc := ts.routed(t, "acme", 0)
	key, _ := ts.widget(t, rc, site)
	started := ts.startChat(t, key, site, map[string]any{}).mustStatus(t, http.StatusCreated)
	v := visitorSocket(t, base, started.str("token"), 0)
	v.next(t, "hello")
	burst := int(chat.DefaultMessageLimit.Burst)
	for i := range burst {
		v.send(t, map[string]any{"type": "send", "client_id": fmt.Sprintf("v-%d", i), "body": "spam"})
		v.next(t, "ack")
	}
	v.send(t, map[string]any{"type": "send", "client_id": "v-over", "body": "spam"})
	e, _ := v.next(t, "error")
	detail, _ := e["error"].(map[string]any)
	if e["client_id"] != "v-over" || detail["code"] != "too_many_messages" || !strings.Contains(fmt.Sprint(detail["message"]), "too fast") {
		t.Fatalf("flood: %v", e)
	}
	var n int
	if err := ts.DB.Owner.QueryRow(t.Context(), `SELECT count(*) FROM chat_messages WHERE tenant_id = $1`, rc.TenantID).Scan(&n); err != nil || n != burst {
		t.Fatalf("%d messages stored (%v), want %d", n, err, burst)
	}
}
