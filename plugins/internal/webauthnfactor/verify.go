package webauthnfactor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofoldauth/twofold/factors"
)

// BeginVerification returns CredentialRequestOptions for the credentials,
// or, for passkeys with none given, for any discoverable credential
// (passwordless sign-in: the user is found afterwards by
// IdentifyCredential).
func (f *Factor) BeginVerification(_ context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	wa := f.config().wa
	uv := webauthn.WithUserVerification(protocol.VerificationRequired)
	if f.kind == HardwareKey {
		uv = webauthn.WithUserVerification(protocol.VerificationDiscouraged)
	}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	if len(req.Credentials) == 0 {
		if f.kind != Passkey {
			return nil, factors.Errorf(factors.ErrUnsupported, "security keys are a second factor: name the user's credentials")
		}
		assertion, session, err = wa.BeginDiscoverableLogin(uv)
	} else {
		creds, derr := decodeCredentials(req.Credentials)
		if derr != nil {
			return nil, derr
		}
		u, uerr := newUser(req.User, creds...)
		if uerr != nil {
			return nil, uerr
		}
		assertion, session, err = wa.BeginLogin(u, uv)
	}
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	clientData, err := json.Marshal(assertion)
	if err != nil {
		return nil, err
	}
	state, err := encodeSession(session)
	if err != nil {
		return nil, err
	}
	return &factors.BeginVerificationResponse{ClientData: clientData, SessionState: state}, nil
}

// FinishVerification checks an assertion against one credential and
// returns the credential with its new signature count and flags.
func (f *Factor) FinishVerification(_ context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	cfg := f.config()
	session, err := decodeSession(req.SessionState)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Response)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "not a PublicKeyCredential assertion: "+errDetail(err))
	}
	stored, err := decodeCredential(req.Credential.State)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(parsed.RawID, stored.ID) {
		return nil, factors.Errorf(factors.ErrInvalidResponse, "the assertion was made with another credential")
	}
	if session.Challenge == stored.LastChallenge {
		return nil, factors.Errorf(factors.ErrReplay, "this challenge was already answered")
	}
	// A model whose certification was withdrawn since enrolment is refused
	// (go-webauthn would too, as a generic error).
	if cfg.mds != nil {
		if e := protocol.ValidateMetadata(context.Background(), cfg.mds.provider, aaguid(stored.Authenticator.AAGUID), stored.AttestationType, stored.AttestationFormat, nil); e != nil {
			return nil, factors.Errorf(factors.ErrAttestationRefused, "security key model is no longer accepted: "+errDetail(e))
		}
	}
	// The flag is go-webauthn's verdict on this assertion alone.
	stored.Authenticator.CloneWarning = false
	u, err := newUser(req.User, *stored.Credential)
	if err != nil {
		return nil, err
	}
	var cred *webauthn.Credential
	if len(session.UserID) == 0 {
		// Discoverable sign-in: the host found the user by this credential;
		// the user handle the authenticator returns must name them too.
		cred, err = cfg.wa.ValidateDiscoverableLogin(func(_, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, u.WebAuthnID()) {
				return nil, errors.New("the user handle does not name the credential's user")
			}
			return u, nil
		}, *session, parsed)
	} else {
		if !bytes.Equal(session.UserID, u.WebAuthnID()) {
			return nil, factors.Errorf(factors.ErrBadRequest, "the verification was begun for another user")
		}
		if !slices.ContainsFunc(session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, stored.ID) }) {
			return nil, factors.Errorf(factors.ErrInvalidResponse, "the credential was not asked for")
		}
		// The ceremony may have offered several of the user's credentials;
		// the host hands back only the one that answered.
		session.AllowedCredentialIDs = [][]byte{stored.ID}
		cred, err = cfg.wa.ValidateLogin(u, *session, parsed)
	}
	if err != nil {
		return nil, classify(err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, factors.Errorf(factors.ErrCloneWarning, fmt.Sprintf("the signature counter went from %d to %d", stored.Authenticator.SignCount, parsed.Response.AuthenticatorData.Counter))
	}
	state, err := encodeCredential(cred, session.Challenge)
	if err != nil {
		return nil, err
	}
	return &factors.FinishVerificationResponse{State: state, Metadata: cfg.metadata(cred)}, nil
}

// IdentifyCredential reads the credential id and user handle of an
// assertion without verifying it: the host looks the credential up, then
// calls FinishVerification.
func (f *Factor) IdentifyCredential(_ context.Context, req *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Response)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "not a PublicKeyCredential assertion: "+errDetail(err))
	}
	return &factors.IdentifyCredentialResponse{ExternalID: parsed.RawID, UserID: string(parsed.Response.UserHandle)}, nil
}
