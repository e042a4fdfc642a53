package mfa

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/twofoldauth/twofold/factors"
)

// BeginVerification asks the enrollment's factor for a challenge (WebAuthn)
// and keeps its session state, sealed, on the login ticket.
func (s *Service) BeginVerification(ctx context.Context, ticket, enrollmentID string) (json.RawMessage, error) {
	t, user, err := s.openTicket(ctx, ticket, StatusMFARequired)
	if err != nil {
		return nil, err
	}
	e, f, err := s.verifiableEnrollment(ctx, user, enrollmentID)
	if err != nil {
		return nil, err
	}
	cred, err := s.credential(e)
	if err != nil {
		return nil, err
	}
	fu, err := s.factorUser(ctx, user)
	if err != nil {
		return nil, err
	}
	// A resend: the factor sees the session state it gave before for this
	// credential (a code factor's cool-down).
	var previous []byte
	if len(t.Challenge) > 0 && t.ChallengeEnrollmentID == e.ID {
		if previous, err = s.keyring.Open(t.Challenge, t.ChallengeKeyID, t.aad()); err != nil {
			return nil, err
		}
	}
	resp, err := f.BeginVerification(ctx, &factors.BeginVerificationRequest{User: fu, Credentials: []factors.Credential{cred}, SessionState: previous})
	if err != nil {
		return nil, s.factorError(ctx, err)
	}
	t.ChallengeEnrollmentID = e.ID
	t.Challenge, t.ChallengeKeyID = s.keyring.Seal(resp.SessionState, t.aad())
	if err := s.store.SetTicketChallenge(ctx, t); err != nil {
		if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
			return nil, errBadTicket
		}
		return nil, err
	}
	if len(resp.ClientData) == 0 {
		return json.RawMessage(`{}`), nil
	}
	return resp.ClientData, nil
}

// verifiableEnrollment loads an active enrollment of the user and its
// factor, if policy lets it be used.
func (s *Service) verifiableEnrollment(ctx context.Context, user *User, id string) (*Enrollment, factors.Factor, error) {
	if !validID(id) {
		return nil, nil, invalidInput("enrollmentId", "not a valid id")
	}
	e, err := s.store.EnrollmentByID(ctx, id)
	if err != nil || e.UserID != user.ID || e.Status != EnrollmentActive {
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		return nil, nil, &Error{Code: CodeNotFound, Field: "enrollmentId", Message: "enrollment not found"}
	}
	if err := s.checkFactorAllowed(ctx, user, e.FactorType); err != nil {
		return nil, nil, err
	}
	f, _, err := s.factor(e.FactorType)
	return e, f, err
}

// VerifyRequest is a second-factor answer on a login ticket.
type VerifyRequest struct {
	Ticket string
	// EnrollmentID is empty when Response carries a recovery code:
	// {"recoveryCode": "xxxx-xxxx-xxxx-xxxx"}.
	EnrollmentID string
	Response     json.RawMessage
	TrustBrowser bool
}

// VerifyFactor checks the second factor and finishes the login. Wrong
// answers count towards the lockout; a right one is accepted once (the
// credential's new state is written with compare-and-swap, and the ticket
// is consumed in the same transaction).
func (s *Service) VerifyFactor(ctx context.Context, req VerifyRequest) (*LoginResult, error) {
	if err := s.checkRate(ClientFrom(ctx)); err != nil {
		return nil, err
	}
	ctx = withPolicyMemo(ctx)
	t, user, err := s.openTicket(ctx, req.Ticket, StatusMFARequired)
	if err != nil {
		return nil, err
	}
	if len(req.Response) == 0 || !json.Valid(req.Response) {
		return nil, invalidInput("response", "response must be JSON")
	}
	if req.EnrollmentID == "" {
		return s.verifyRecoveryCode(ctx, t, user, req)
	}
	e, f, err := s.verifiableEnrollment(ctx, user, req.EnrollmentID)
	if err != nil {
		return nil, err
	}
	return s.finishVerification(ctx, t, user, e, f, req.Response, req.TrustBrowser, nil)
}

// finishVerification has the factor check a response against enrollment e,
// with the challenge the ticket holds for it (if any), then counts a failure
// or accepts the answer.
func (s *Service) finishVerification(ctx context.Context, t *LoginTicket, user *User, e *Enrollment, f factors.Factor, response json.RawMessage, trust bool, details map[string]string) (res *LoginResult, err error) {
	defer func() { s.observeVerification(e.FactorType, res, err) }()
	var session []byte
	// A challenge belongs to the enrollment it was made for, or, on a
	// passwordless ticket, to whichever passkey answers it.
	if len(t.Challenge) > 0 && (t.ChallengeEnrollmentID == e.ID || t.ChallengeEnrollmentID == "") {
		var err error
		if session, err = s.keyring.Open(t.Challenge, t.ChallengeKeyID, t.aad()); err != nil {
			return nil, err
		}
	}
	cred, err := s.credential(e)
	if err != nil {
		return nil, err
	}
	fu, err := s.factorUser(ctx, user)
	if err != nil {
		return nil, err
	}
	a, locked, err := s.userAttempt(ctx, user)
	if err != nil {
		return nil, err
	}
	if locked {
		return s.refuseLocked(ctx, user.OrganizationID, user.ID, nil)
	}
	resp, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: fu, Credential: cred, SessionState: session, Response: response})
	if err != nil {
		return s.factorFailed(ctx, a, user, e, err)
	}
	return s.acceptVerification(ctx, a, t, user, e, resp, trust, details)
}

// acceptVerification records a verified factor response and finishes the
// login: the credential's new state is written with compare-and-swap and
// the ticket consumed in the same transaction, so an answer counts once.
// a is the answer's attempt, cleared by the session.
func (s *Service) acceptVerification(ctx context.Context, a *attempt, t *LoginTicket, user *User, e *Enrollment, resp *factors.FinishVerificationResponse, trust bool, details map[string]string) (*LoginResult, error) {
	now := s.now()
	prev := e.Version
	s.seal(e, resp.State)
	e.LastUsedAt = &now
	if resp.Metadata != nil {
		e.Metadata = resp.Metadata
	}
	if details == nil {
		details = map[string]string{}
	}
	details["enrollment_id"], details["factor_type"] = e.ID, e.FactorType
	var res *LoginResult
	err := s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.UpdateEnrollment(ctx, e, prev); err != nil {
			return err // ErrStale: another request used this credential state first
		}
		return s.finishSecondFactor(ctx, tx, t, user, trust, &res, AuditFactorUsed, details)
	})
	if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
		// Lost a race with the same answer: it was accepted once already.
		return s.factorFailed(ctx, a, user, e, factors.ErrReplay)
	}
	if err != nil {
		return lockedResult(err)
	}
	return res, nil
}

// finishSecondFactor consumes the ticket and issues the session, in tx.
func (s *Service) finishSecondFactor(ctx context.Context, tx Store, t *LoginTicket, user *User, trust bool, out **LoginResult, action AuditAction, details map[string]string) error {
	if err := tx.ConsumeLoginTicket(ctx, t.ID, s.now()); err != nil {
		return err
	}
	used := s.auditEvent(ctx, user.OrganizationID, user.ID, user.ID, action, details)
	res, err := s.completeLogin(s.withSecondFactor(ctx, t, details["factor_type"]), tx, user, true, used)
	if err != nil {
		return err
	}
	if trust {
		if err := s.trustBrowser(ctx, tx, user, res); err != nil {
			return err
		}
	}
	*out = res
	return nil
}

// factorFailed counts a wrong answer of attempt a and says LOCKED or why
// it failed. An answer that was never judged (the factor was unavailable)
// gives the slot back instead.
func (s *Service) factorFailed(ctx context.Context, a *attempt, user *User, e *Enrollment, ferr error) (*LoginResult, error) {
	if !verificationFailed(ferr) {
		if err := a.release(ctx); err != nil {
			return nil, err
		}
		return nil, s.factorError(ctx, ferr)
	}
	details := map[string]string{}
	if e != nil {
		details["enrollment_id"], details["factor_type"] = e.ID, e.FactorType
	}
	if errors.Is(ferr, factors.ErrCloneWarning) {
		if err := s.audit(ctx, s.store, user.OrganizationID, "", user.ID, AuditFactorCloneWarning, map[string]string{"enrollment_id": e.ID}); err != nil {
			return nil, err
		}
	}
	locked, err := a.failed(ctx, "bad_second_factor", details)
	if err != nil {
		return nil, err
	}
	if locked {
		return &LoginResult{Status: StatusLocked}, nil
	}
	return nil, s.factorError(ctx, ferr)
}

func (s *Service) verifyRecoveryCode(ctx context.Context, t *LoginTicket, user *User, req VerifyRequest) (out *LoginResult, err error) {
	defer func() { s.observeVerification("recovery_code", out, err) }()
	var body struct {
		RecoveryCode string `json:"recoveryCode"`
	}
	if err := json.Unmarshal(req.Response, &body); err != nil || body.RecoveryCode == "" || len(body.RecoveryCode) > 64 {
		return nil, invalidInput("response", `give enrollmentId with the factor's response, or {"recoveryCode": "..."}`)
	}
	a, locked, err := s.userAttempt(ctx, user)
	if err != nil {
		return nil, err
	}
	if locked {
		return s.refuseLocked(ctx, user.OrganizationID, user.ID, nil)
	}
	var res *LoginResult
	errWrong := errors.New("wrong recovery code")
	err = s.store.Transaction(ctx, func(tx Store) error {
		ok, err := useRecoveryCode(ctx, tx, user.ID, body.RecoveryCode, s)
		if err != nil {
			return err
		}
		if !ok {
			return errWrong
		}
		left, err := tx.RecoveryCodesLeft(ctx, user.ID)
		if err != nil {
			return err
		}
		return s.finishSecondFactor(ctx, tx, t, user, req.TrustBrowser, &res, AuditRecoveryCodeUsed,
			map[string]string{"codes_left": itoa(left)})
	})
	switch {
	case errors.Is(err, errWrong):
		return s.factorFailed(ctx, a, user, nil, factors.ErrInvalidResponse)
	case errors.Is(err, ErrStale):
		_ = a.release(ctx)
		return nil, errBadTicket
	case err != nil:
		return lockedResult(err)
	}
	return res, nil
}
