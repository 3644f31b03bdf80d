package web_test

import (
	"net/http"
	"testing"
)

// TestIVRMenus_TooLargeIsA400: a tree past the node limit (each of its
// leaves a queue lookup on every save) is refused 400 menu_too_large on
// create, update and the editor's validation; nothing is saved.
func TestIVRMenus_TooLargeIsA400(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 0)
	leaf := map[string]any{"action": map[string]any{"type": "queue", "queue_id": co.Payments}}
	keys := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"}
	level := func(child any) map[string]any {
		opts := map[string]any{}
		for _, k := range keys {
			opts[k] = child
		}
		return map[string]any{"prompt": "Press a key", "options": opts}
	}
	big := level(level(map[string]any{"prompt": "p", "options": map[string]any{"1": leaf}})) // 1+12+144+144 nodes
	a := vs.call(t, "POST", "/api/v1/ivr-menus", co.Token, map[string]any{"name": "Huge", "tree": big})
	if a.mustStatus(t, http.StatusBadRequest); a.errCode() != "menu_too_large" {
		t.Fatalf("create: %s", a.Body)
	}
	id := vs.menu(t, co, "Small", level(leaf))
	if a := vs.call(t, "PUT", "/api/v1/ivr-menus/"+id.String(), co.Token, map[string]any{"name": "Small", "tree": big}); a.Status != http.StatusBadRequest || a.errCode() != "menu_too_large" {
		t.Fatalf("update: %d %s", a.Status, a.Body)
	}
	if l := vs.call(t, "GET", "/api/v1/ivr-menus", co.Token, nil).mustStatus(t, http.StatusOK); len(l.JSON["menus"].([]any)) != 1 {
		t.Fatalf("menus: %s", l.Body)
	}
}
