package tenant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// An operator's second factor is TOTP (RFC 6238: 6 digits, 30 seconds,
// SHA-1, what every authenticator app reads from an otpauth:// URL). The
// secret is kept sealed with AES-256-GCM; a code is accepted once (its
// time step must be later than the last accepted one).

const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// newTOTPKey makes a fresh secret for the operator's authenticator app.
func (o *Operators) newTOTPKey(email string) (*otp.Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: o.issuer(), AccountName: email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return k, nil
}

func (o *Operators) issuer() string {
	if o.Issuer != "" {
		return o.Issuer
	}
	return "CIC operator"
}

// totpKeyURL rebuilds the otpauth:// URL of a stored secret.
func (o *Operators) totpKeyURL(email, secret string) (*otp.Key, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("totp secret: %w", err)
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: o.issuer(), AccountName: email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return k, nil
}

// matchTOTP returns the time step (within one step of now, for clocks a
// little off) whose code is code, or 0.
func matchTOTP(secret, code string, now time.Time) int64 {
	if len(code) != 6 {
		return 0
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0
		}
	}
	step := now.Unix() / totpPeriod
	var found int64
	for s := step - 1; s <= step+1; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = s
		}
	}
	return found
}

// TOTPCode is the code of secret at t (tests, and `cic demo` documenting
// its operator).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// seal encrypts a TOTP secret for operator id (the associated data, so a
// sealed secret copied onto another operator's row does not open).
func (o *Operators) seal(id uuid.UUID, secret string) ([]byte, error) {
	aead, err := o.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(secret), id[:]), nil
}

var errTOTPUnreadable = errors.New("operator totp secret cannot be opened (was the signing key rotated? `cic operator reset` the operator)")

func (o *Operators) open(id uuid.UUID, sealed []byte) (string, error) {
	aead, err := o.aead()
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errTOTPUnreadable
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], id[:])
	if err != nil {
		return "", errTOTPUnreadable
	}
	return string(plain), nil
}

func (o *Operators) aead() (cipher.AEAD, error) {
	if len(o.TOTPKey) != 32 {
		return nil, errors.New("operators: TOTPKey must be 32 bytes")
	}
	b, err := aes.NewCipher(o.TOTPKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
