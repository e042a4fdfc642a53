package mfa

import (
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
)

// PasswordConfig holds the argon2id cost and the password policy.
type PasswordConfig struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	MinLength   int
	MaxLength   int
}

// DefaultPasswordConfig follows OWASP's argon2id minimum (19 MiB, t=2, p=1)
// and NIST 800-63B lengths.
var DefaultPasswordConfig = PasswordConfig{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, MinLength: 12, MaxLength: 256}

func (c PasswordConfig) params() *argon2id.Params {
	return &argon2id.Params{Memory: c.MemoryKiB, Iterations: c.Iterations, Parallelism: c.Parallelism, SaltLength: 16, KeyLength: 32}
}

// hashing admits as many argon2id computations at once as there are
// processors: each holds its memory cost (19 MiB by default) while it runs,
// and more at once than cores adds memory, not throughput (64 parallel
// logins held over 900 MiB without it).
var hashing = make(chan struct{}, runtime.GOMAXPROCS(0))

// hash returns the PHC-format argon2id hash of password.
func (c PasswordConfig) hash(password string) (string, error) {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2id.CreateHash(password, c.params())
}

// verify checks password against hash (in constant time) and says whether the
// hash was made with other parameters than the current ones.
func (c PasswordConfig) verify(password, hash string) (ok, stale bool) {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	match, p, err := argon2id.CheckHash(password, hash)
	if err != nil || !match {
		return false, false
	}
	want := c.params()
	return true, p.Memory != want.Memory || p.Iterations != want.Iterations || p.Parallelism != want.Parallelism
}

// check applies the password policy for a user with the given username.
func (c PasswordConfig) check(field, password, username string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return invalidInput(field, "password is not valid UTF-8")
	case n < c.MinLength:
		return invalidInput(field, "password must be at least %d characters", c.MinLength)
	case n > c.MaxLength:
		return invalidInput(field, "password must be at most %d characters", c.MaxLength)
	case strings.EqualFold(password, username):
		return invalidInput(field, "password must not equal the username")
	}
	return nil
}
