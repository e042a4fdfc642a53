// Package webauthntest is a software WebAuthn authenticator for tests, on
// github.com/descope/virtualwebauthn: it answers the options JSON Twofold
// returns (beginEnrollment / beginVerification clientData) with the
// PublicKeyCredential JSON a browser would send.
package webauthntest

import (
	"encoding/json"
	"errors"

	vw "github.com/descope/virtualwebauthn"
)

// Authenticator is one software authenticator holding one credential.
type Authenticator struct {
	RP   vw.RelyingParty
	Auth vw.Authenticator
	Cred *vw.Credential
}

// Options shape the authenticator.
type Options struct {
	// Origin the "browser" reports; RPID the id it signs for.
	Origin string
	RPID   string
	// NoUserVerification clears the UV flag (PIN/biometric not done).
	NoUserVerification bool
	// AAGUID identifies the authenticator model (zero: random).
	AAGUID [16]byte
}

// New returns an authenticator for the relying party.
func New(o Options) *Authenticator {
	a := &Authenticator{RP: vw.RelyingParty{ID: o.RPID, Name: "Twofold", Origin: o.Origin},
		Auth: vw.NewAuthenticatorWithOptions(vw.AuthenticatorOptions{UserNotVerified: o.NoUserVerification, BackupEligible: true})}
	if o.AAGUID != ([16]byte{}) {
		a.Auth.Aaguid = o.AAGUID
	}
	return a
}

// Register answers CredentialCreationOptions JSON ({"publicKey": ...})
// with a new credential's attestation (packed, self-attested).
func (a *Authenticator) Register(clientData json.RawMessage) (json.RawMessage, error) {
	opts, err := vw.ParseAttestationOptions(string(clientData))
	if err != nil {
		return nil, err
	}
	cred := vw.NewCredential(vw.KeyTypeEC2)
	a.Auth.Options.UserHandle = []byte(opts.UserID)
	a.Auth.AddCredential(cred)
	a.Cred = &a.Auth.Credentials[len(a.Auth.Credentials)-1]
	return json.RawMessage(vw.CreateAttestationResponse(a.RP, a.Auth, *a.Cred, *opts)), nil
}

// Login answers CredentialRequestOptions JSON with an assertion, advancing
// the signature counter as real authenticators do.
func (a *Authenticator) Login(clientData json.RawMessage) (json.RawMessage, error) {
	opts, err := vw.ParseAssertionOptions(string(clientData))
	if err != nil {
		return nil, err
	}
	if a.Cred == nil {
		return nil, errors.New("webauthntest: no credential registered")
	}
	a.Cred.Counter++
	return json.RawMessage(vw.CreateAssertionResponse(a.RP, a.Auth, *a.Cred, *opts)), nil
}
