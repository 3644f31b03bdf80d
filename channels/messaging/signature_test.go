package messaging_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cic-platform/cic/channels/messaging"
	"github.com/cic-platform/cic/infra/testenv"
)

func TestVerify_OnlyTheSecretsFreshSignaturePasses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"e1"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := messaging.Sign("secret-one", now.Unix(), body)
	for _, tc := range []struct {
		name, secret, ts, sig string
		body                  []byte
		want                  string // error code, "" for valid
	}{
		{"valid", "secret-one", ts, good, body, ""},
		{"one of two (rotation)", "secret-one", ts, messaging.Sign("old", now.Unix(), body) + "," + good, body, ""},
		{"4m59s old", "secret-one", strconv.FormatInt(now.Unix()-299, 10), messaging.Sign("secret-one", now.Unix()-299, body), body, ""},
		{"other secret", "secret-two", ts, good, body, "invalid_signature"},
		{"other body", "secret-one", ts, good, []byte(`{"id":"e2"}`), "invalid_signature"},
		{"timestamp not signed", "secret-one", strconv.FormatInt(now.Unix()+1, 10), good, body, "invalid_signature"},
		{"stale", "secret-one", strconv.FormatInt(now.Unix()-301, 10), messaging.Sign("secret-one", now.Unix()-301, body), body, "stale_signature"},
		{"future", "secret-one", strconv.FormatInt(now.Unix()+301, 10), messaging.Sign("secret-one", now.Unix()+301, body), body, "stale_signature"},
		{"no prefix", "secret-one", ts, strings.TrimPrefix(good, "v1="), body, "invalid_signature"},
		{"v0", "secret-one", ts, "v0=" + strings.TrimPrefix(good, "v1="), body, "invalid_signature"},
		{"upper-case hex is the same bytes", "secret-one", ts, "v1=" + strings.ToUpper(strings.TrimPrefix(good, "v1=")), body, ""},
		{"missing signature", "secret-one", ts, "", body, "invalid_signature"},
		{"missing timestamp", "secret-one", "", good, body, "invalid_signature"},
		{"timestamp not a number", "secret-one", "12a", good, body, "invalid_signature"},
		{"no secret", "", ts, messaging.Sign("", now.Unix(), body), body, "invalid_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := messaging.Verify(tc.secret, tc.ts, tc.sig, tc.body, now)
			if got := testenv.Code(err); got != tc.want {
				t.Fatalf("Verify = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add("1800000000", messaging.Sign("s3cret-key", now.Unix(), []byte("x")), []byte("x"))
	f.Add("-1", "v1=", []byte{})
	f.Add("99999999999999999999", "v1=zz,v1=00", []byte("{}"))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := messaging.Verify("s3cret-key", ts, sig, body, now)
		if err == nil && sig != messaging.Sign("s3cret-key", now.Unix(), body) && !strings.Contains(strings.ToLower(sig), strings.TrimPrefix(messaging.Sign("s3cret-key", mustInt(ts), body), "v1=")) {
			t.Fatalf("forged signature %q for %q passed", sig, ts)
		}
	})
}

func mustInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
