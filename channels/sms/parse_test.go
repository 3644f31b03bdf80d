package sms_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/cic-platform/cic/channels/sms"
	"github.com/cic-platform/cic/infra/testenv"
)

func TestParseMessage(t *testing.T) {
	base := "MessageSid=SM1&From=%2B49+151+1234+5678&To=0049301111&Body=hi"
	for _, tc := range []struct{ name, give, want string }{
		{"plain", base, ""},
		{"media", base + "&NumMedia=1&MediaUrl0=https%3A%2F%2Fapi.test%2Fm%2F1&MediaContentType0=image%2Fjpeg", ""},
		{"no sid", "From=%2B4915112345678&To=%2B4930111111", "invalid_message_sid"},
		{"sid with symbols", strings.Replace(base, "SM1", "SM-1", 1), "invalid_message_sid"},
		{"local from", strings.Replace(base, "%2B49+151", "0151", 1), "invalid_from"},
		{"bad num media", base + "&NumMedia=x", "invalid_num_media"},
		{"media not http", base + "&NumMedia=1&MediaUrl0=file%3A%2F%2F%2Fetc%2Fpasswd", "invalid_media_url"},
		{"too long", base + strings.Repeat("a", 4*sms.MaxBody+1), "message_too_long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.give)
			if err != nil {
				t.Fatal(err)
			}
			m, err := sms.ParseMessage(v)
			if testenv.Code(err) != tc.want {
				t.Fatalf("ParseMessage = %+v, %v; want %q", m, err, tc.want)
			}
			if err == nil && (m.From != "+4915112345678" || m.To != "+49301111") {
				t.Fatalf("numbers %q %q", m.From, m.To)
			}
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add("MessageSid=SM1&From=%2B4915112345678&To=%2B4930111111&Body=hi&NumMedia=1&MediaUrl0=https%3A%2F%2Fx")
	f.Add("NumMedia=99&MediaUrl0=")
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		if m, err := sms.ParseMessage(v); err == nil && (m.SID == "" || len(m.Media) > sms.MaxMedia) {
			t.Fatalf("accepted %+v", m)
		} else if err != nil && testenv.Code(err) == "" {
			t.Fatalf("error without a code: %v", err)
		}
	})
}
