// Package secretbox seals the secrets the product must keep readable
// (tenants' provider auth tokens and webhook-signing secrets) with
// AES-256-GCM, so the database never holds them in plain text.
//
// A sealed value is: version byte (1), key id (4 bytes), nonce (12 bytes),
// ciphertext with its 16-byte tag; version and key id are authenticated
// as additional data. A Box has a ring of keys: the first seals, every one
// opens, so a key is rotated by putting the new one first, re-sealing
// (`cic secrets rotate`, which uses NeedsRotation) and then dropping the
// old one.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

const (
	version   = 1
	idSize    = 4
	nonceSize = 12
	header    = 1 + idSize
	overhead  = header + nonceSize + 16
)

var (
	// ErrNotSealed: the value is not in the sealed form at all.
	ErrNotSealed = errors.New("secretbox: not a sealed value")
	// ErrUnknownKey: sealed with a key the ring does not hold (a wrong or
	// missing SECRETS_KEY).
	ErrUnknownKey = errors.New("secretbox: sealed with a key that is not configured (check SECRETS_KEY)")
	// ErrTampered: the value fails authentication.
	ErrTampered = errors.New("secretbox: sealed value fails authentication (altered or corrupted)")
)

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Box seals with its first key and opens with any of its keys.
type Box struct {
	keys []key
}

// keyID names a key without revealing it.
func keyID(k []byte) [idSize]byte {
	sum := sha256.Sum256(append([]byte("cic/secretbox/key-id\x00"), k...))
	var id [idSize]byte
	copy(id[:], sum[:])
	return id
}

// New builds a Box from 32-byte keys: the first seals, all open.
func New(keys ...[]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secretbox: at least one key")
	}
	b := &Box{}
	seen := map[[idSize]byte]bool{}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d has %d bytes, want %d", i+1, len(k), KeySize)
		}
		id := keyID(k)
		if seen[id] {
			continue // the same key twice opens nothing more
		}
		seen[id] = true
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		b.keys = append(b.keys, key{id: id, aead: aead})
	}
	return b, nil
}

// ParseKeys reads SECRETS_KEY: comma-separated base64 keys of 32 bytes,
// the first one sealing.
func ParseKeys(spec string) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d is not base64", i+1)
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d has %d bytes, want %d", i+1, len(k), KeySize)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("secretbox: no key given")
	}
	return keys, nil
}

// Seal encrypts plain with the first key under a fresh random nonce.
func (b *Box) Seal(plain []byte) ([]byte, error) {
	k := b.keys[0]
	out := make([]byte, header+nonceSize, overhead+len(plain))
	out[0] = version
	copy(out[1:header], k.id[:])
	if _, err := rand.Read(out[header : header+nonceSize]); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return k.aead.Seal(out, out[header:header+nonceSize], plain, out[:header]), nil
}

// Open decrypts a value Seal returned, with whichever key sealed it.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != version {
		return nil, ErrNotSealed
	}
	for _, k := range b.keys {
		if [idSize]byte(sealed[1:header]) != k.id {
			continue
		}
		plain, err := k.aead.Open(nil, sealed[header:header+nonceSize], sealed[header+nonceSize:], sealed[:header])
		if err != nil {
			return nil, ErrTampered
		}
		return plain, nil
	}
	return nil, ErrUnknownKey
}

// NeedsRotation reports whether sealed should be sealed again: it is not
// sealed with the first key in the current format (or not sealed at all).
func (b *Box) NeedsRotation(sealed []byte) bool {
	if len(sealed) < overhead || sealed[0] != version {
		return true
	}
	return [idSize]byte(sealed[1:header]) != b.keys[0].id
}
