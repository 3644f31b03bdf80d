package web_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	cic "github.com/cic-platform/cic"
	"github.com/cic-platform/cic/channels"
	"github.com/cic-platform/cic/channels/directory"
	"github.com/cic-platform/cic/channels/voice"
	"github.com/cic-platform/cic/infra/outbound"
	"github.com/cic-platform/cic/infra/secretbox"
	"github.com/cic-platform/cic/infra/testenv"
	"github.com/cic-platform/cic/tenant"
	"github.com/cic-platform/cic/web"
)

// allowPrivate is ALLOW_PRIVATE_OUTBOUND=1: the providers' stubs of the
// harnesses listen on loopback.
var allowPrivate = &outbound.Policy{AllowPrivate: true}

// testSecrets is a fresh secrets-at-rest box.
func testSecrets(t testing.TB) *secretbox.Box {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(k)
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stubDNS resolves a few names, the way an attacker's DNS would.
type stubDNS struct {
	mu    sync.Mutex
	names map[string]string
}

func (d *stubDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.names[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// SSRF: a provider's api_base is where we post the tenant's credentials
// and whose answer we act on; it must be https to a public server.
func TestProviderAPIBase_PrivateAddressesAreRefusedAtSave(t *testing.T) {
	dns := &stubDNS{names: map[string]string{"api.provider.example": "93.184.216.34", "redis.attacker.example": "127.0.0.1",
		"meta.attacker.example": "169.254.169.254"}}
	box := testSecrets(t)
	var dir *directory.Directory
	ts := newServer(t, func(cfg *web.Config) {
		dir = &directory.Directory{DB: cfg.Tenants.DB, Secrets: box, Outbound: &outbound.Policy{Resolver: dns}}
		cfg.Directory = dir
	})
	a := ts.signup(t, "acme")
	ts.call(t, "PUT", "/api/v1/channel-providers/twilio", a.Token, map[string]any{"account_id": "AC1", "secret": "tok-secret-123",
		"api_base": "https://api.provider.example"}).mustStatus(t, http.StatusOK)
	for _, base := range []string{
		"http://127.0.0.1:6379/",
		"http://169.254.169.254/latest/meta-data",
		"https://169.254.169.254/latest/meta-data",
		"https://10.0.0.1",
		"https://192.168.0.1:8443/",
		"https://100.64.0.1",
		"https://[::1]",
		"https://[::ffff:127.0.0.1]",
		"https://[fd00::1]",
		"https://localhost",
		"https://127.1",
		"https://redis.attacker.example", // resolves to loopback
		"https://meta.attacker.example",
		"https://nowhere.attacker.example", // does not resolve
		"http://api.provider.example",
		"https://user:pw@api.provider.example",
	} {
		for _, provider := range []string{"twilio", "social"} {
			got := ts.call(t, "PUT", "/api/v1/channel-providers/"+provider, a.Token, map[string]any{"account_id": "AC1",
				"secret": "tok-secret-456", "api_base": base}).mustStatus(t, http.StatusBadRequest)
			if got.errCode() != "url_not_allowed" {
				t.Errorf("%s api_base %s: %s", provider, base, got.Body)
			}
		}
	}
	// Nothing was saved: the first, public address (and its secret) stand.
	p, err := dir.Provider(testenv.Context(t), a.TenantID, directory.Twilio)
	if err != nil || p.APIBase != "https://api.provider.example" || p.Secret != "tok-secret-123" {
		t.Fatalf("provider after refused saves: %+v, %v", p, err)
	}
	if _, err := dir.Provider(testenv.Context(t), a.TenantID, directory.Social); err == nil {
		t.Fatal("a refused social provider was saved")
	}
}

// The provider's answer text is logged, never shown: an api_base that
// answers with what an internal service said reflects none of it to the
// agent (API answer, recorded message, contact timeline).
func TestProviderError_TextNeverReachesTheAgent(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ms.API.setFail(true) // answers 400 {"message":"The 'To' number is not a valid phone number.","error":"recipient unknown"}
	for _, ch := range []struct{ channel, to string }{{"sms", customerPhone}, {"social", "facebook:sam"}} {
		got := ms.call(t, "POST", "/api/v1/outbound", a.Agent.Token, map[string]any{"channel": ch.channel, "queue_id": a.QueueID,
			"to": ch.to, "body": "Your parcel ships today."})
		if got.Status < 400 || got.errCode() != "provider_refused" {
			t.Fatalf("%s outbound against a refusing provider: %d %s", ch.channel, got.Status, got.Body)
		}
		for _, leak := range []string{"not a valid phone number", "recipient unknown"} {
			if strings.Contains(string(got.Body), leak) {
				t.Fatalf("%s: the provider's text reached the API answer: %s", ch.channel, got.Body)
			}
		}
	}
	var leaked int
	if err := ms.DB.Owner.QueryRow(testenv.Context(t), `SELECT
		(SELECT count(*) FROM contact_messages WHERE tenant_id = $1 AND (error LIKE '%valid phone%' OR error LIKE '%recipient unknown%')) +
		(SELECT count(*) FROM contact_events WHERE tenant_id = $1 AND (details::text LIKE '%valid phone%' OR details::text LIKE '%recipient unknown%'))`,
		a.TenantID).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d stored records carry the provider's text (%v)", leaked, err)
	}
	if len(ms.API.calls()) == 0 {
		t.Fatal("the provider stub was never called: the test proves nothing")
	}
}

// Secrets at rest: the database holds the provider's secret sealed, not
// in plain text, and the directory still reads it.
func TestProviderSecret_StoredSealedNeverPlain(t *testing.T) {
	ms := newMsgServer(t)
	a := ms.company(t, "acme", acmeNumber, acmeFax, acmePage)
	ctx := testenv.Context(t)
	rows, err := ms.DB.Owner.Query(ctx, `SELECT provider, secret, secret_plain FROM channel_providers WHERE tenant_id = $1`, a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]string{"twilio": a.TwilioToken, "social": a.SocialSecret, "fax": a.FaxSecret}
	n := 0
	for rows.Next() {
		var provider string
		var sealed []byte
		var plain *string
		if err := rows.Scan(&provider, &sealed, &plain); err != nil {
			t.Fatal(err)
		}
		n++
		if plain != nil || sealed == nil || strings.Contains(string(sealed), want[provider]) {
			t.Errorf("%s: secret %q, secret_plain %v: not sealed", provider, sealed, plain)
		}
	}
	if n != 3 {
		t.Fatalf("%d provider rows", n)
	}
	var hits int
	if err := ms.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM channel_providers WHERE tenant_id = $1 AND
		(position(convert_to($2, 'UTF8') in secret) > 0 OR position(convert_to($3, 'UTF8') in secret) > 0)`,
		a.TenantID, a.TwilioToken, a.SocialSecret).Scan(&hits); err != nil || hits != 0 {
		t.Fatalf("plain text found in %d rows (%v)", hits, err)
	}
	p, err := ms.Dir.Provider(ctx, a.TenantID, directory.Twilio)
	if err != nil || p.Secret != a.TwilioToken {
		t.Fatalf("the directory reads %q, %v", p.Secret, err)
	}
	// Another key cannot open it: a clear error, not a wrong secret.
	other := &directory.Directory{DB: ms.Tenants.DB, Secrets: testSecrets(t), Outbound: allowPrivate}
	if _, err := other.Provider(ctx, a.TenantID, directory.Twilio); err == nil || !strings.Contains(err.Error(), "SECRETS_KEY") {
		t.Fatalf("another key: %v", err)
	}
}

// Calls too: an outbound call against an api_base that answers with an
// internal service's text shows the agent (error, timeline) none of it.
func TestProviderError_CallFailureShowsNoProviderText(t *testing.T) {
	vs := newVoiceServer(t)
	co := vs.callCenter(t, "acme", 1)
	q := uuid.MustParse(co.Payments)
	vs.number(t, co, nil, &q)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"message":"-ERR wrong number of arguments for 'POST' command; redis_version:7.2.4 requirepass=hunter2"}`))
	}))
	t.Cleanup(refusing.Close)
	ctx := testenv.Context(t)
	owner := tenant.Actor{TenantID: co.TenantID, UserID: co.UserID, Role: cic.RoleOwner}
	if err := vs.Dir.SetProvider(ctx, owner, directory.Provider{Provider: directory.Twilio, AccountID: "ACacme", APIBase: refusing.URL}); err != nil {
		t.Fatal(err)
	}
	id, err := voice.Channel{S: vs.Voice}.Start(ctx, channels.Outbound{TenantID: co.TenantID, AgentID: co.Agents[0].UserID, QueueID: q, To: "+44 20 7946 0000"})
	if testenv.Code(err) != "provider_refused" {
		t.Fatalf("call against a refusing provider: %v", err)
	}
	e, _ := cic.AsError(err)
	if strings.Contains(e.Message, "redis") || strings.Contains(e.Message, "hunter2") {
		t.Fatalf("the agent is shown %q", e.Message)
	}
	timeline := vs.call(t, "GET", "/api/v1/contacts/"+id.String(), co.Token, nil).mustStatus(t, http.StatusOK)
	var leaked int
	if err := vs.DB.Owner.QueryRow(ctx, `SELECT count(*) FROM contact_events WHERE tenant_id = $1 AND details::text LIKE '%hunter2%'`,
		co.TenantID).Scan(&leaked); err != nil || leaked != 0 || strings.Contains(string(timeline.Body), "hunter2") {
		t.Fatalf("the provider's text is on the timeline (%d events, %v): %s", leaked, err, timeline.Body)
	}
}
