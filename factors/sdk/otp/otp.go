// Package otp is for factors that send a one-time code (email, SMS): a
// random numeric code, kept only as an HMAC-SHA256 under a random salt in
// the session state, with an expiry, a single-use id and the time it was
// sent for a resend cool-down.
package otp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/factors"
)

// Code is a sent code as a factor keeps it (JSON in the session or
// pending state): never the code itself.
type Code struct {
	// ID is random and names this code: a factor records the last one
	// used in the credential state and refuses it again (ErrReplay).
	ID      []byte    `json:"id"`
	Salt    []byte    `json:"salt"`
	MAC     []byte    `json:"mac"`
	Sent    time.Time `json:"sent"`
	Expires time.Time `json:"expires"`
}

// New returns a fresh code of digits digits (uniform, leading zeros
// allowed) sent at now and valid for ttl, and what to keep of it.
func New(digits int, now time.Time, ttl time.Duration) (string, Code) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	code := n.Text(10)
	code = strings.Repeat("0", digits-len(code)) + code
	c := Code{ID: random(16), Salt: random(16), Sent: now, Expires: now.Add(ttl)}
	c.MAC = mac(c.Salt, code)
	return code, c
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func mac(salt []byte, code string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(code))
	return m.Sum(nil)
}

// Check compares answer (spaces and dashes ignored) with the code at now:
// a wrong or expired code is factors.ErrInvalidResponse, which counts
// towards the user's lockout.
func (c Code) Check(answer string, now time.Time) error {
	answer = strings.NewReplacer(" ", "", "-", "").Replace(answer)
	if len(c.MAC) == 0 || !hmac.Equal(mac(c.Salt, answer), c.MAC) {
		return factors.Errorf(factors.ErrInvalidResponse, "wrong code")
	}
	if !now.Before(c.Expires) {
		return factors.Errorf(factors.ErrInvalidResponse, "the code has expired; ask for a new one")
	}
	return nil
}

// Wait is how long until another code may be sent after this one, given
// the cool-down (0: now).
func (c Code) Wait(now time.Time, cooldown time.Duration) time.Duration {
	return max(0, c.Sent.Add(cooldown).Sub(now))
}

// State is the credential state a code factor keeps: the id of the last
// code used, so no code verifies twice.
type State struct {
	Last []byte `json:"last"`
}

// Verify checks a client's response {"code": "123456"} against kept (a
// Code as JSON, from the pending or session state) and the credential's
// state (nil at enrolment), at now. It returns the credential's new state.
// No code sent, or an unreadable response, is factors.ErrBadRequest; a
// code used already is factors.ErrReplay; a wrong or expired one
// factors.ErrInvalidResponse.
func Verify(kept, response, credential []byte, now time.Time) ([]byte, error) {
	var c Code
	var st State
	var answer struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(kept, &c) != nil || len(c.ID) == 0 {
		return nil, factors.Errorf(factors.ErrBadRequest, "no code was sent: ask for one first")
	}
	if json.Unmarshal(response, &answer) != nil || answer.Code == "" {
		return nil, factors.Errorf(factors.ErrBadRequest, `want {"code": "..."}`)
	}
	if credential != nil && json.Unmarshal(credential, &st) != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "unreadable credential state")
	}
	if bytes.Equal(st.Last, c.ID) {
		return nil, factors.Errorf(factors.ErrReplay, "this code was used already")
	}
	if err := c.Check(answer.Code, now); err != nil {
		return nil, err
	}
	return json.Marshal(State{Last: c.ID})
}
