package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/customer"
	"github.com/cic-platform/cic/infra/testenv"
)

// Each of these answered 500: PostgreSQL refused the value (NUL, broken
// UTF-8, an integer out of range, a foreign key) and the error went out
// as the server's. Each is now the client's 4xx.
func TestBadInput_Former500sAre4xx(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 0)
	other := vs.callCenter(t, "globex", 0)
	ts := vs.testServer
	ctx := testenv.Context(t)
	cs := &customer.Service{DB: ts.Tenants.DB}
	jane, err := cs.Resolve(ctx, co.TenantID, customer.KindEmail, "jane@example.com", "Jane")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ts.apiKey(t, co.company, "PBX")
	chatQueue := ts.call(t, "POST", "/api/v1/queues", co.Token, map[string]any{"name": "Chat", "channels": []string{"chat"}}).
		mustStatus(t, http.StatusCreated).str("id")
	contact := ts.call(t, "POST", "/api/v1/contacts", key, map[string]any{"queue_id": chatQueue, "channel": "chat", "customer_ref": "x"}).
		mustStatus(t, http.StatusCreated).str("id")
	foreignMenu := vs.menu(t, other, "Theirs", deliveryMenu(other))

	cursor := base64.RawURLEncoding.EncodeToString([]byte("\xff\xfe\x00"))
	cases := []struct {
		name, method, path, ua string
		body                   any
		want                   int
		code                   string
	}{
		{"users cursor of broken UTF-8", "GET", "/api/v1/users?cursor=" + cursor, "", nil, 400, "invalid_cursor"},
		{"customers q with NUL", "GET", "/api/v1/customers?q=" + url.QueryEscape("ja\x00ne"), "", nil, 400, "invalid_text"},
		{"customers q with broken UTF-8", "GET", "/api/v1/customers?q=%ff%fe", "", nil, 400, "invalid_text"},
		{"customer PATCH with NUL", "PATCH", "/api/v1/customers/" + jane.String(), "", `{"notes":"a\u0000b"}`, 400, "invalid_text"},
		{"customer PATCH with broken UTF-8", "PATCH", "/api/v1/customers/" + jane.String(), "", "{\"display_name\":\"J\xffane\"}", 400, "invalid_text"},
		{"customer PATCH with NUL in a list", "PATCH", "/api/v1/customers/" + jane.String(), "", `{"opt_outs":["sms\u0000"]}`, 400, "invalid_text"},
		{"purchase of a NUL tier", "POST", "/api/v1/purchases", "", `{"tier":"\u0000"}`, 400, "invalid_text"},
		{"messages after beyond int4", "GET", "/api/v1/contacts/" + contact + "/messages?after=2147483648", "", nil, 400, "invalid_after"},
		{"address to an unknown IVR menu", "POST", "/api/v1/channel-addresses", "",
			map[string]any{"channel": "voice", "address": "+493099988877", "ivr_menu_id": uuid.NewString()}, 400, "invalid_ivr_menu"},
		{"address to another company's IVR menu", "POST", "/api/v1/channel-addresses", "",
			map[string]any{"channel": "voice", "address": "+493099988876", "ivr_menu_id": foreignMenu.String()}, 400, "invalid_ivr_menu"},
		{"contact priority beyond int4", "POST", "/api/v1/contacts", "",
			map[string]any{"queue_id": co.Payments, "channel": "voice", "priority": int64(1) << 40}, 400, ""},
		{"login with a NUL and half a character in User-Agent", "POST", "/api/v1/auth/login", "Mozilla\x00" + string([]byte{0xe2, 0x82}),
			map[string]any{"tenant": "acme", "email": "owner@acme.example", "password": goodPassword}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(tc.method, tc.path, nil)
			if tc.body != nil {
				req = jsonRequest(t, tc.method, tc.path, tc.body)
			}
			tok := co.Token
			if tc.path == "/api/v1/contacts" {
				tok = key
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			if tc.ua != "" {
				req.Header.Set("User-Agent", tc.ua)
			}
			a := ts.do(t, req).mustStatus(t, tc.want)
			if tc.code != "" && a.errCode() != tc.code {
				t.Fatalf("code %q, want %q: %s", a.errCode(), tc.code, a.Body)
			}
		})
	}
	// Nothing was linked to the other company's menu.
	if n := vs.count(t, co.TenantID, `SELECT count(*) FROM channel_addresses WHERE ivr_menu_id = $1`, foreignMenu); n != 0 {
		t.Fatalf("%d addresses lead to another company's menu", n)
	}
}
