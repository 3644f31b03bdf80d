package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/cic-platform/cic/infra/secretbox"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestBox_RoundTrip(t *testing.T) {
	b, err := secretbox.New(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range [][]byte{[]byte("twilio-auth-token-123"), {}, bytes.Repeat([]byte{0}, 1000)} {
		sealed, err := b.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) > 4 && bytes.Contains(sealed, plain) {
			t.Fatalf("sealed value holds the plain text")
		}
		got, err := b.Open(sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v; want %q", got, err, plain)
		}
		if b.NeedsRotation(sealed) {
			t.Fatal("a fresh seal needs rotation")
		}
	}
	s1, _ := b.Seal([]byte("same"))
	s2, _ := b.Seal([]byte("same"))
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of the same secret are equal (nonce reused)")
	}
}

func TestBox_RotationOldKeyStillOpensNewKeySeals(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	old, _ := secretbox.New(oldKey)
	sealedOld, _ := old.Seal([]byte("secret-1"))

	rotated, err := secretbox.New(newK, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealedOld); err != nil || string(got) != "secret-1" {
		t.Fatalf("the old key no longer opens: %q, %v", got, err)
	}
	if !rotated.NeedsRotation(sealedOld) {
		t.Fatal("a value sealed with the old key does not need rotation")
	}
	resealed, _ := rotated.Seal([]byte("secret-1"))
	if rotated.NeedsRotation(resealed) {
		t.Fatal("a value sealed with the new key needs rotation")
	}
	// After the old key is dropped, the re-sealed value still opens and
	// the unrotated one does not.
	onlyNew, _ := secretbox.New(newK)
	if got, err := onlyNew.Open(resealed); err != nil || string(got) != "secret-1" {
		t.Fatalf("re-sealed value: %q, %v", got, err)
	}
	if _, err := onlyNew.Open(sealedOld); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("old value with the new key only: %v, want ErrUnknownKey", err)
	}
}

func TestBox_TamperingIsDetected(t *testing.T) {
	b, _ := secretbox.New(newKey(t))
	sealed, _ := b.Seal([]byte("webhook-secret"))
	for i := range sealed {
		if i == 0 {
			continue // the version byte: ErrNotSealed, below
		}
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := b.Open(bad); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		} else if i >= 5 && !errors.Is(err, secretbox.ErrTampered) {
			t.Fatalf("byte %d: %v, want ErrTampered", i, err)
		}
	}
	if _, err := b.Open(sealed[:len(sealed)-1]); !errors.Is(err, secretbox.ErrTampered) {
		t.Fatalf("truncated: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[0] = 2
	if _, err := b.Open(bad); !errors.Is(err, secretbox.ErrNotSealed) {
		t.Fatalf("other version: %v", err)
	}
	if _, err := b.Open([]byte("plain-text-secret-from-an-old-row")); !errors.Is(err, secretbox.ErrNotSealed) {
		t.Fatalf("plain text: %v", err)
	}
}

func TestBox_WrongKeyFailsClearly(t *testing.T) {
	a, _ := secretbox.New(newKey(t))
	b, _ := secretbox.New(newKey(t))
	sealed, _ := a.Seal([]byte("secret"))
	_, err := b.Open(sealed)
	if !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("wrong key: %v, want ErrUnknownKey", err)
	}
}

func TestNewAndParseKeys_RefuseBadKeys(t *testing.T) {
	if _, err := secretbox.New(); err == nil {
		t.Error("New() without keys")
	}
	if _, err := secretbox.New(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key")
	}
	k1, k2 := newKey(t), newKey(t)
	keys, err := secretbox.ParseKeys(base64.StdEncoding.EncodeToString(k1) + ", " + base64.StdEncoding.EncodeToString(k2))
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) {
		t.Fatalf("ParseKeys: %v, %v", keys, err)
	}
	for _, spec := range []string{"", " , ", "not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := secretbox.ParseKeys(spec); err == nil {
			t.Errorf("ParseKeys(%q) accepted", spec)
		}
	}
}
