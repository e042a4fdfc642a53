// Package passphrase is the example factor: the smallest complete
// implementation of factors.Factor. Enrolment stores a salted SHA-256 of a
// passphrase; verification compares in constant time.
package passphrase

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"

	"github.com/twofoldauth/twofold/factors"
)

// Factor is the example passphrase factor.
type Factor struct{}

var _ factors.Factor = Factor{}

// New returns the factor.
func New() Factor { return Factor{} }

type state struct {
	Salt []byte `json:"salt"`
	Hash []byte `json:"hash"`
}

type response struct {
	Passphrase string `json:"passphrase"`
}

func (Factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return &factors.DescribeResponse{ID: "example", DisplayName: "Example passphrase", Version: "1.0.0", ProtocolVersion: factors.ProtocolVersion}, nil
}

func (Factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	if len(req.Settings) > 0 {
		return nil, factors.Errorf(factors.ErrBadRequest, "the example factor takes no settings")
	}
	return &factors.ConfigureResponse{}, nil
}

// BeginEnrollment needs no server data: the client just picks a passphrase.
func (Factor) BeginEnrollment(context.Context, *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	return &factors.BeginEnrollmentResponse{ClientData: json.RawMessage(`{"prompt":"choose a passphrase of 8+ characters"}`)}, nil
}

func (Factor) FinishEnrollment(_ context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	p, err := parse(req.Response)
	if err != nil {
		return nil, err
	}
	if len(p) < 8 {
		return nil, factors.Errorf(factors.ErrBadRequest, "the passphrase must have 8 or more characters")
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	st, _ := json.Marshal(state{Salt: salt, Hash: digest(salt, p)})
	return &factors.FinishEnrollmentResponse{State: st, Label: "Passphrase"}, nil
}

func (Factor) BeginVerification(context.Context, *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return &factors.BeginVerificationResponse{ClientData: json.RawMessage(`{}`)}, nil
}

func (Factor) FinishVerification(_ context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	var st state
	if err := json.Unmarshal(req.Credential.State, &st); err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "unreadable credential state")
	}
	p, err := parse(req.Response)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(digest(st.Salt, p), st.Hash) != 1 {
		return nil, factors.Errorf(factors.ErrInvalidResponse, "wrong passphrase")
	}
	return &factors.FinishVerificationResponse{State: req.Credential.State}, nil
}

func (Factor) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

func parse(raw json.RawMessage) (string, error) {
	var r response
	if err := json.Unmarshal(raw, &r); err != nil || r.Passphrase == "" {
		return "", factors.Errorf(factors.ErrBadRequest, `response must be {"passphrase": "..."}`)
	}
	return r.Passphrase, nil
}

func digest(salt []byte, p string) []byte {
	sum := sha256.Sum256(append(append([]byte{}, salt...), p...))
	return sum[:]
}
