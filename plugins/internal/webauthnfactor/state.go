package webauthnfactor

import (
	"encoding/json"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofoldauth/twofold/factors"
)

// user adapts a host user and their credentials to go-webauthn.
type user struct {
	id, name, display string
	creds             []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.display }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newUser(fu factors.User, creds ...webauthn.Credential) (*user, error) {
	if fu.ID == "" || fu.Name == "" {
		return nil, factors.Errorf(factors.ErrBadRequest, "the user needs an id and a name")
	}
	u := &user{id: fu.ID, name: fu.Name, display: fu.DisplayName, creds: creds}
	if u.display == "" {
		u.display = u.name
	}
	return u, nil
}

// credentialState is a credential as the host keeps it: go-webauthn's
// Credential JSON with one more field, the challenge of the last assertion
// accepted. Authenticators that keep no signature counter (synced passkeys
// always report 0) would otherwise let the same assertion verify twice.
type credentialState struct {
	*webauthn.Credential
	LastChallenge string `json:"lastChallenge,omitempty"`
}

func encodeCredential(c *webauthn.Credential, lastChallenge string) ([]byte, error) {
	return json.Marshal(credentialState{Credential: c, LastChallenge: lastChallenge})
}

// decodeCredential reads a credential state. Credential's own UnmarshalJSON
// would swallow the embedding struct's fields, hence two passes.
func decodeCredential(state []byte) (*credentialState, error) {
	s := credentialState{Credential: &webauthn.Credential{}}
	var extra struct {
		LastChallenge string `json:"lastChallenge"`
	}
	if json.Unmarshal(state, s.Credential) != nil || json.Unmarshal(state, &extra) != nil || len(s.ID) == 0 {
		return nil, factors.Errorf(factors.ErrBadRequest, "unreadable credential state")
	}
	s.LastChallenge = extra.LastChallenge
	return &s, nil
}

func decodeCredentials(creds []factors.Credential) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, len(creds))
	for i, c := range creds {
		s, err := decodeCredential(c.State)
		if err != nil {
			return nil, err
		}
		out[i] = *s.Credential
	}
	return out, nil
}

func encodeSession(s *webauthn.SessionData) ([]byte, error) { return json.Marshal(s) }

func decodeSession(state []byte) (*webauthn.SessionData, error) {
	if len(state) == 0 {
		return nil, factors.Errorf(factors.ErrBadRequest, "no ceremony in progress: begin one first")
	}
	var s webauthn.SessionData
	if err := json.Unmarshal(state, &s); err != nil || s.Challenge == "" {
		return nil, factors.Errorf(factors.ErrBadRequest, "unreadable ceremony state")
	}
	return &s, nil
}
