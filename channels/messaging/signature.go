package messaging

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	cic "github.com/cic-platform/cic"
)

// The signed JSON scheme of the social and fax webhooks and of our calls
// to those providers' APIs: X-CIC-Timestamp carries the unix seconds of
// the request, X-CIC-Signature "v1=" and the hex HMAC-SHA256, keyed with
// the tenant's provider secret, of the timestamp, a full stop and the raw
// body. Signing the timestamp bounds how long a captured request can be
// replayed; the event id makes a replay inside the window harmless.
const (
	TimestampHeader = "X-CIC-Timestamp"
	SignatureHeader = "X-CIC-Signature"
	// Tolerance is how far a request's timestamp may be from our clock,
	// either way.
	Tolerance = 5 * time.Minute
)

var errSignature = cic.Codef(cic.EFORBIDDEN, "invalid_signature", "The request's signature is missing or wrong.")

// Sign returns the X-CIC-Signature value of body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// SignRequest sets the signature headers of a request carrying body.
func SignRequest(req *http.Request, secret string, body []byte, now time.Time) {
	ts := now.Unix()
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(SignatureHeader, Sign(secret, ts, body))
}

// Verify checks a request's timestamp and signature headers against body,
// in constant time. The signature header may list several
// comma-separated "v1=" values (a provider rotating its secret signs
// with both); one match is enough. Every failure is EFORBIDDEN.
func Verify(secret, timestamp, signature string, body []byte, now time.Time) error {
	if secret == "" || timestamp == "" || signature == "" || len(timestamp) > 12 || len(signature) > 1024 {
		return errSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts <= 0 {
		return errSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return cic.Codef(cic.EFORBIDDEN, "stale_signature", "The request's timestamp is more than %s from now.", Tolerance)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), "v1="))
	ok := false
	for v := range strings.SplitSeq(signature, ",") {
		hexSig, found := strings.CutPrefix(strings.TrimSpace(v), "v1=")
		if !found {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err == nil && hmac.Equal(got, want) {
			ok = true // keep going: the time taken does not say which matched
		}
	}
	if !ok {
		return errSignature
	}
	return nil
}
