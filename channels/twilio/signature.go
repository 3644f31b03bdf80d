// Package twilio speaks the Twilio-compatible interface that voice and
// SMS providers offer: webhooks signed with X-Twilio-Signature
// (HMAC-SHA1 of the full URL followed by the POST parameters sorted by
// name, each name then value, keyed with the account's auth token,
// base64) and a REST API authenticated with the account sid and token.
package twilio

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the provider's signature scheme is HMAC-SHA1
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "X-Twilio-Signature"

// Sign returns the signature of a webhook to fullURL (scheme, host, path
// and query, as the provider called it) with the form params.
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Valid reports whether signature is the provider's for this request, in
// constant time. An empty token or signature is never valid.
func Valid(authToken, fullURL string, params url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	want := Sign(authToken, fullURL, params)
	return hmac.Equal([]byte(want), []byte(signature))
}
