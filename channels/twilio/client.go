package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/infra/outbound"
)

// DefaultAPIBase is Twilio's API root; a tenant's provider settings (or a
// test's stub) may name another compatible one.
const DefaultAPIBase = "https://api.twilio.com"

// Client calls a Twilio-compatible REST API for one account. APIBase is
// the tenant's: HTTP must be an outbound.Policy client (nil: the strict
// one), and a refusal shows the provider's status, never its text.
type Client struct {
	APIBase    string // without the trailing /2010-04-01
	AccountSID string
	AuthToken  string
	HTTP       *http.Client
}

// Resource is what the API answers about a message or call it created.
type Resource struct {
	SID    string `json:"sid"`
	Status string `json:"status"`
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return outbound.Strict()
}

// post sends form to /2010-04-01/Accounts/{sid}/{path}.json.
func (c *Client) post(ctx context.Context, path string, form url.Values) (Resource, error) {
	base := strings.TrimRight(c.APIBase, "/")
	if base == "" {
		base = DefaultAPIBase
	}
	u := fmt.Sprintf("%s/2010-04-01/Accounts/%s/%s.json", base, url.PathEscape(c.AccountSID), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return Resource{}, fmt.Errorf("provider request: %w", err)
	}
	req.SetBasicAuth(c.AccountSID, c.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return Resource{}, outbound.Unreachable(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Message == "" {
			e.Message = resp.Status
		}
		return Resource{}, outbound.Answered(resp.StatusCode, e.Message)
	}
	var r Resource
	if err := json.Unmarshal(body, &r); err != nil || r.SID == "" {
		return Resource{}, cic.Codef(cic.EUNAVAILABLE, "provider_refused", "The provider's answer had no sid.")
	}
	return r, nil
}

// SendSMS sends an SMS; statusCallback may be "".
func (c *Client) SendSMS(ctx context.Context, from, to, body, statusCallback string) (Resource, error) {
	f := url.Values{"From": {from}, "To": {to}, "Body": {body}}
	if statusCallback != "" {
		f.Set("StatusCallback", statusCallback)
	}
	return c.post(ctx, "Messages", f)
}

// CreateCall places a call whose TwiML the provider fetches from twimlURL.
func (c *Client) CreateCall(ctx context.Context, from, to, twimlURL, statusCallback string) (Resource, error) {
	f := url.Values{"From": {from}, "To": {to}, "Url": {twimlURL}}
	if statusCallback != "" {
		f.Set("StatusCallback", statusCallback)
		f["StatusCallbackEvent"] = []string{"initiated", "ringing", "answered", "completed"}
	}
	return c.post(ctx, "Calls", f)
}

// RedirectCall makes a live call fetch its next TwiML from twimlURL (hold
// music, a transfer, the survey after the agent hangs up).
func (c *Client) RedirectCall(ctx context.Context, callSID, twimlURL string) (Resource, error) {
	return c.post(ctx, "Calls/"+url.PathEscape(callSID), url.Values{"Url": {twimlURL}, "Method": {"POST"}})
}

// EndCall hangs a live call up.
func (c *Client) EndCall(ctx context.Context, callSID string) (Resource, error) {
	return c.post(ctx, "Calls/"+url.PathEscape(callSID), url.Values{"Status": {"completed"}})
}
