package tenant

import (
	"fmt"

	"github.com/alexedwards/argon2id"
)

// PasswordParams are the argon2id costs. DefaultPasswordParams follows
// the RFC 9106 second recommendation scaled to our 2-core servers; tests
// use cheaper ones.
type PasswordParams = argon2id.Params

var DefaultPasswordParams = PasswordParams{Memory: 64 * 1024, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}

// FastPasswordParams are for tests and fuzzing only.
var FastPasswordParams = PasswordParams{Memory: 256, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func hashPassword(p PasswordParams, pw string) (string, error) {
	h, err := argon2id.CreateHash(pw, &p)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// dummyHash is compared against when the user does not exist, so unknown
// users cost the same time as wrong passwords.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = hashPassword(s.Password, "not-a-real-password-for-timing")
	})
	return s.dummy
}

func checkPassword(pw, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	return err == nil && ok
}
