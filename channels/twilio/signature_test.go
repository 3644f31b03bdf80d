package twilio_test

import (
	"net/url"
	"testing"

	"github.com/cic-platform/cic/channels/twilio"
)

// Twilio's documented examples (twilio.com/docs/usage/security): the same
// URL and parameters, signed with the auth token 12345.
func TestSign_KnownVectors(t *testing.T) {
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	for _, tc := range []struct {
		name, caller, want string
	}{
		{"older docs", "+12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
		{"current docs", "+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {tc.caller}, "Digits": {"1234"},
				"From": {tc.caller}, "To": {"+18005551212"}}
			if got := twilio.Sign("12345", u, p); got != tc.want {
				t.Fatalf("Sign = %q, want %q", got, tc.want)
			}
			if !twilio.Valid("12345", u, p, tc.want) {
				t.Fatal("the documented signature is not valid")
			}
		})
	}
}

func TestValid_RefusesWhatWasNotSigned(t *testing.T) {
	const token, u = "secret-token", "https://cic.example/webhooks/twilio/t/voice?node=2"
	p := url.Values{"CallSid": {"CA1"}, "Digits": {"2"}}
	sig := twilio.Sign(token, u, p)
	for _, tc := range []struct {
		name          string
		token, u, sig string
		params        url.Values
	}{
		{"other token", "other-token", u, sig, p},
		{"other url", token, u + "1", sig, p},
		{"other query", token, "https://cic.example/webhooks/twilio/t/voice?node=1", sig, p},
		{"changed param", token, u, sig, url.Values{"CallSid": {"CA1"}, "Digits": {"1"}}},
		{"added param", token, u, sig, url.Values{"CallSid": {"CA1"}, "Digits": {"2"}, "X": {""}}},
		{"empty signature", token, u, "", p},
		{"empty token", "", u, twilio.Sign("", u, p), p},
		{"garbage", token, u, "not base64!", p},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if twilio.Valid(tc.token, tc.u, tc.params, tc.sig) {
				t.Fatal("valid, want invalid")
			}
		})
	}
	if !twilio.Valid(token, u, p, sig) {
		t.Fatal("the right signature is invalid")
	}
}
