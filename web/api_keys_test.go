package web_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

func TestAPIKeys_CreatedOnceListedWithoutSecretRevoked(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	k := ts.call(t, "POST", "/api/v1/api-keys", a.Token, map[string]any{"name": "PBX bridge"}).mustStatus(t, http.StatusCreated)
	key, id := k.str("key"), k.str("id")
	if !strings.HasPrefix(key, "ck1.") || id == "" || k.str("name") != "PBX bridge" {
		t.Fatalf("create: %s", k.Body)
	}
	list := ts.call(t, "GET", "/api/v1/api-keys", a.Token, nil).mustStatus(t, http.StatusOK)
	secret := key[strings.LastIndex(key, ".")+1:]
	if !bytes.Contains(list.Body, []byte(id)) || bytes.Contains(list.Body, []byte(secret)) {
		t.Fatalf("list shows the secret or misses the key: %s", list.Body)
	}
	if _, _, err := ts.Tenants.AuthenticateAPIKey(t.Context(), key); err != nil {
		t.Fatalf("fresh key refused: %v", err)
	}
	r := ts.call(t, "DELETE", "/api/v1/api-keys/"+id, a.Token, nil).mustStatus(t, http.StatusOK)
	if r.str("revoked_at") == "" {
		t.Fatalf("revoke: %s", r.Body)
	}
	if _, _, err := ts.Tenants.AuthenticateAPIKey(t.Context(), key); err == nil {
		t.Fatal("revoked key still accepted")
	}

	agent := ts.createUser(t, a, "agent@acme.example", "agent")
	ts.call(t, "POST", "/api/v1/api-keys", agent.Token, map[string]any{"name": "x"}).mustStatus(t, http.StatusForbidden)
	ts.call(t, "POST", "/api/v1/api-keys", a.Token, map[string]any{"name": ""}).mustStatus(t, http.StatusBadRequest)
	ts.call(t, "POST", "/api/v1/api-keys", a.Token, `{"name":`).mustStatus(t, http.StatusBadRequest)
	// An API key is not a user session.
	ts.call(t, "GET", "/api/v1/me", key, nil).mustStatus(t, http.StatusUnauthorized)
}

func TestIsolation_APIKeysAreInvisibleToOtherTenants(t *testing.T) {
	ts := newServer(t)
	a := ts.signup(t, "acme")
	b := ts.signup(t, "bravo")
	k := ts.call(t, "POST", "/api/v1/api-keys", a.Token, map[string]any{"name": "PBX"}).mustStatus(t, http.StatusCreated)
	id := k.str("id")
	ts.call(t, "DELETE", "/api/v1/api-keys/"+id, b.Token, nil).mustStatus(t, http.StatusNotFound)
	lb := ts.call(t, "GET", "/api/v1/api-keys", b.Token, nil).mustStatus(t, http.StatusOK)
	if bytes.Contains(lb.Body, []byte(id)) {
		t.Fatalf("B lists A's key: %s", lb.Body)
	}
	la := ts.call(t, "GET", "/api/v1/api-keys", a.Token, nil).mustStatus(t, http.StatusOK)
	if !bytes.Contains(la.Body, []byte(id)) || bytes.Contains(la.Body, []byte(`"revoked_at":"`)) {
		t.Fatalf("A's key changed under B: %s", la.Body)
	}
}
