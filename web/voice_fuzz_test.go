package web_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/cic-platform/cic/channels/twilio"
	"github.com/cic-platform/cic/channels/voice"
)

// FuzzVoiceWebhook sends signed webhooks with arbitrary forms, steps,
// node paths and keys: the answer is never a 500 and, when 200, always
// well-formed TwiML.
func FuzzVoiceWebhook(f *testing.F) {
	vs := newVoiceServer(f)
	co := vs.callCenter(f, "fuzz", 1)
	menu := vs.menu(f, co, "Main", deliveryMenu(co))
	vs.number(f, co, &menu, nil)
	// One real call whose contact the fuzzer may name.
	c := vs.dial(f, co, "CAf0000000000000000000000000000001", "+4917600000201")
	c.press(f, "1")
	contact := uuid.NewSHA1(co.TenantID, []byte("voice\x00CAf0000000000000000000000000000001")).String()

	for _, s := range []struct{ step, query, body string }{
		{"", "", "CallSid=CAf0000000000000000000000000000002&From=%2B4917600000202&To=" + url.QueryEscape(co.Number)},
		{"ivr", "node=2&try=1", "CallSid=CAf0000000000000000000000000000002&Digits=1"},
		{"ivr", "node=2t9&try=99", "CallSid=CAf0000000000000000000000000000002&Digits=%23%2A"},
		{"ivr", "node=&timeout=1&try=-5", "CallSid=CAf0000000000000000000000000000002"},
		{"wait", "contact=" + contact, "CallSid=CAf0000000000000000000000000000001"},
		{"hold", "contact=nope", "CallSid=CAf0000000000000000000000000000001"},
		{"survey", "contact=" + contact + "&try=2", "CallSid=CAf0000000000000000000000000000001&Digits=6"},
		{"status", "", "CallSid=CAf0000000000000000000000000000001&CallStatus=busy"},
		{"outbound", "contact=" + contact, "CallSid=%00%FF&CallStatus=%"},
		{"ivr", "node=%ZZ", "CallSid=" + strings.Repeat("A", 100) + "&Digits=<x>&Digits=2"},
		{"voicemail", "contact=" + contact, "CallSid=CAf0000000000000000000000000000001&RecordingSid=RE00000000000000000000000000000001&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2Fr&RecordingDuration=-4"},
		{"recording", "queue=nope", "CallSid=CAf0000000000000000000000000000002&RecordingStatus=completed&RecordingSid=RE%00&RecordingUrl=%FF"},
		{"wait", "contact=" + contact + "&said=-99999999999999999999", "CallSid=CAf0000000000000000000000000000001"},
	} {
		f.Add(s.step, s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, step, query, body string) {
		steps := map[string]bool{}
		for _, s := range voice.Steps {
			steps[s] = true
		}
		if !steps[step] || strings.ContainsAny(query, "# \t\r\n") {
			return
		}
		p := voice.WebhookPath(co.TenantID.String(), step)
		if query != "" {
			p += "?" + query
		}
		if _, err := url.ParseRequestURI(p); err != nil {
			return // no HTTP client sends such a request line
		}
		form, err := url.ParseQuery(body)
		req := newRequest("POST", p, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err == nil {
			req.Header.Set(twilio.SignatureHeader, twilio.Sign(co.Secret, publicBase+p, form))
		}
		resp, rerr := vs.App().Test(req, 30_000)
		if rerr != nil {
			t.Fatalf("%s: %v", p, rerr)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q: %d %s", p, body, resp.StatusCode, raw)
		}
		if err != nil {
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("an unparsable form got %d", resp.StatusCode)
			}
			return
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %q: a signed webhook got %d %s", p, body, resp.StatusCode, raw)
		}
		d := xml.NewDecoder(strings.NewReader(string(raw)))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not well-formed XML: %v: %s", err, raw)
			}
		}
	})
}
