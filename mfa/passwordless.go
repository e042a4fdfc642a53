package mfa

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/twofoldauth/twofold/factors"
)

// StatusPasswordless marks a ticket of a passkey sign-in in progress; it
// never leaves the service.
const StatusPasswordless LoginStatus = "PASSWORDLESS"

// passkeyFactor is the factor type that signs in without a password.
const passkeyFactor = "passkey"

var errPasskeyUnknown = &Error{Code: CodeUnauthenticated, Reason: "INVALID_CREDENTIALS", Message: "this passkey is not recognised"}

// BeginPasskeyLogin starts a passwordless sign-in for the organization and
// returns a ticket and the WebAuthn request options (any discoverable
// passkey). An unknown organization gets the same answer.
func (s *Service) BeginPasskeyLogin(ctx context.Context, orgSlug string) (string, json.RawMessage, error) {
	if orgSlug == "" || len(orgSlug) > 64 {
		return "", nil, invalidInput("organization", "organization is required")
	}
	f, _, err := s.factor(passkeyFactor)
	if err != nil {
		return "", nil, &Error{Code: CodeBadUserInput, Message: "passkeys are not installed"}
	}
	orgID := ""
	if org, err := s.store.OrganizationBySlug(ctx, orgSlug); err == nil {
		orgID = org.ID
	} else if !errors.Is(err, ErrNotFound) {
		return "", nil, err
	}
	resp, err := f.BeginVerification(ctx, &factors.BeginVerificationRequest{})
	if err != nil {
		return "", nil, s.factorError(ctx, err)
	}
	token, hash := newToken()
	now := s.now()
	t := &LoginTicket{ID: newID(), TokenHash: hash, OrganizationID: orgID, Status: StatusPasswordless, CreatedAt: now, ExpiresAt: now.Add(s.cfg.LoginTicketTTL)}
	t.Challenge, t.ChallengeKeyID = s.keyring.Seal(resp.SessionState, t.aad())
	if err := s.store.CreateLoginTicket(ctx, t); err != nil {
		return "", nil, err
	}
	return token, resp.ClientData, nil
}

// FinishPasskeyLogin finds the user by the passkey that answered, verifies
// the assertion (possession and user verification) and signs them in: a
// multi-factor login, under the same lockout, trust and audit rules.
func (s *Service) FinishPasskeyLogin(ctx context.Context, ticket string, response json.RawMessage, trust bool) (*LoginResult, error) {
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return nil, err
	}
	ctx = withPolicyMemo(ctx)
	if ticket == "" || len(ticket) > 128 {
		return nil, errBadTicket
	}
	t, err := s.store.LoginTicketByHash(ctx, hashToken(ticket))
	if errors.Is(err, ErrNotFound) {
		return nil, errBadTicket
	}
	if err != nil {
		return nil, err
	}
	if t.Status != StatusPasswordless || t.ConsumedAt != nil || !s.now().Before(t.ExpiresAt) {
		return nil, errBadTicket
	}
	if len(response) == 0 || !json.Valid(response) {
		return nil, invalidInput("response", "response must be the PublicKeyCredential JSON")
	}
	f, _, err := s.factor(passkeyFactor)
	if err != nil {
		return nil, err
	}
	id, err := f.IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: response})
	if err != nil {
		return nil, s.factorError(ctx, err)
	}
	e, err := s.store.EnrollmentByExternalID(ctx, passkeyFactor, base64.RawURLEncoding.EncodeToString(id.ExternalID))
	if errors.Is(err, ErrNotFound) {
		return nil, errPasskeyUnknown
	}
	if err != nil {
		return nil, err
	}
	user, err := s.store.UserByID(ctx, e.UserID)
	if err != nil || user.OrganizationID != t.OrganizationID || user.Status != UserActive || id.UserID != user.ID {
		return nil, errPasskeyUnknown
	}
	pol, err := s.effectivePolicy(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	if pol.license.SuspendedAt != nil {
		return nil, errSuspended
	}
	if !pol.Allows(passkeyFactor) || !pol.AllowPasswordless.Value {
		return nil, &Error{Code: CodeForbidden, Reason: "PASSWORDLESS_NOT_ALLOWED", Message: "passwordless sign-in is not allowed for this account; log in with your password"}
	}
	return s.finishVerification(ctx, t, user, e, f, response, trust, map[string]string{"passwordless": "true"})
}
