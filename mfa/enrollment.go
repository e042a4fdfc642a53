package mfa

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/twofoldauth/twofold/factors"
)

// EnrollmentStatus is where an enrollment stands.
type EnrollmentStatus string

// Enrollment statuses.
const (
	// EnrollmentPending: begun, waiting for the user's first proof.
	EnrollmentPending EnrollmentStatus = "PENDING"
	// EnrollmentActive: usable as a second factor.
	EnrollmentActive EnrollmentStatus = "ACTIVE"
)

// Enrollment is one factor credential of a user (a TOTP app, a passkey).
type Enrollment struct {
	ID         string
	UserID     string
	FactorType string
	Label      string
	Status     EnrollmentStatus
	// State is the factor's state sealed under KeyID: the pending
	// enrollment state while PENDING, the credential once ACTIVE.
	State   []byte
	KeyID   string
	Version int
	// ExternalID is the factor's own id for the credential (WebAuthn
	// credential id, base64url), for look-ups.
	ExternalID string
	// Metadata is public information (aaguid, transports, backup flags).
	Metadata map[string]string
	// CreatedBy is the admin who enrolled it on the user's behalf, if any.
	CreatedBy   string
	CreatedAt   time.Time
	ActivatedAt *time.Time
	LastUsedAt  *time.Time
	// ExpiresAt ends a pending enrollment.
	ExpiresAt *time.Time
}

// Audit actions for factors.
const (
	AuditFactorEnrolled       AuditAction = "factor.enrolled"
	AuditFactorRemoved        AuditAction = "factor.removed"
	AuditFactorRenamed        AuditAction = "factor.renamed"
	AuditFactorUsed           AuditAction = "factor.used"
	AuditFactorFailed         AuditAction = "factor.failed"
	AuditFactorCloneWarning   AuditAction = "factor.clone_warning"
	AuditRecoveryCodesIssued  AuditAction = "recovery_codes.issued"
	AuditRecoveryCodeUsed     AuditAction = "recovery_code.used"
	AuditEnrollmentBegun      AuditAction = "factor.enrollment_begun"
	AuditSealedSecretsRotated AuditAction = "seal.rotated"
	maxLabelLength                        = 64
)

func (e *Enrollment) aad() string { return "enrollment:" + e.ID }

// seal stores plaintext as the enrollment's sealed state.
func (s *Service) seal(e *Enrollment, plaintext []byte) {
	e.State, e.KeyID = s.keyring.Seal(plaintext, e.aad())
}

func (s *Service) unseal(e *Enrollment) ([]byte, error) {
	return s.keyring.Open(e.State, e.KeyID, e.aad())
}

// credential is the factor-facing view of an active enrollment.
func (s *Service) credential(e *Enrollment) (factors.Credential, error) {
	state, err := s.unseal(e)
	if err != nil {
		return factors.Credential{}, err
	}
	ext, _ := base64.RawURLEncoding.DecodeString(e.ExternalID)
	return factors.Credential{ID: e.ID, ExternalID: ext, State: state}, nil
}

func (s *Service) factorUser(ctx context.Context, u *User) (factors.User, error) {
	slug, err := s.orgSlug(ctx, u.OrganizationID)
	if err != nil {
		return factors.User{}, err
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	return factors.User{ID: u.ID, Name: u.Username, DisplayName: name, Organization: slug}, nil
}

// orgSlug is the organization's slug, read once per process (slugs never
// change).
func (s *Service) orgSlug(ctx context.Context, orgID string) (string, error) {
	if v, ok := s.orgSlugs.Load(orgID); ok {
		return v.(string), nil
	}
	org, err := s.store.OrganizationByID(ctx, orgID)
	if err != nil {
		return "", err
	}
	s.orgSlugs.Store(orgID, org.Slug)
	return org.Slug, nil
}

// BeginEnrollmentRequest starts enrolling a factor. Exactly one of these
// authorizes it: the viewer's session (for themselves, or with UserID for
// a user they manage), or a login Ticket in ENROLLMENT_REQUIRED state.
type BeginEnrollmentRequest struct {
	FactorType string
	Label      string
	Ticket     string
	UserID     string
}

// BeginEnrollmentResult is the pending enrollment and the client's data.
type BeginEnrollmentResult struct {
	Enrollment *Enrollment
	ClientData json.RawMessage
}

// enrollee resolves who an enrollment call acts for: the ticket's user,
// a managed user, or the viewer. actorID is who is acting (for audit).
func (s *Service) enrollee(ctx context.Context, v *Viewer, ticket, userID string) (user *User, t *LoginTicket, actorID string, err error) {
	if ticket != "" {
		t, user, err = s.openTicket(ctx, ticket, StatusEnrollmentRequired)
		if err != nil {
			return nil, nil, "", err
		}
		return user, t, user.ID, nil
	}
	if v == nil {
		return nil, nil, "", errUnauthenticated
	}
	if userID == "" || userID == v.User.ID {
		u := v.User
		return &u, nil, v.User.ID, nil
	}
	user, err = s.manageableUser(ctx, v, userID)
	return user, nil, v.User.ID, err
}

// BeginEnrollment asks the factor for enrollment data and keeps the pending
// state, sealed, until CompleteEnrollment.
func (s *Service) BeginEnrollment(ctx context.Context, v *Viewer, req BeginEnrollmentRequest) (*BeginEnrollmentResult, error) {
	user, _, actorID, err := s.enrollee(ctx, v, req.Ticket, req.UserID)
	if err != nil {
		return nil, err
	}
	f, status, err := s.factor(req.FactorType)
	if err != nil {
		return nil, err
	}
	if err := s.checkFactorAllowed(ctx, user, req.FactorType); err != nil {
		return nil, err
	}
	label, err := text("label", req.Label, 0, maxLabelLength)
	if err != nil {
		return nil, err
	}
	existing, err := s.store.Enrollments(ctx, user.ID, EnrollmentActive)
	if err != nil {
		return nil, err
	}
	if len(existing) == 0 {
		// A first factor takes a seat: refused now when none is free
		// (taken for good in CompleteEnrollment's transaction).
		l, err := s.license(ctx, s.store, user.OrganizationID)
		if err != nil {
			return nil, err
		}
		if !l.SeatFree() {
			return nil, errNoSeat
		}
	}
	var creds []factors.Credential
	for i := range existing {
		if existing[i].FactorType != req.FactorType {
			continue
		}
		c, err := s.credential(&existing[i])
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	fu, err := s.factorUser(ctx, user)
	if err != nil {
		return nil, err
	}
	resp, err := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: fu, Label: label, Existing: creds})
	if err != nil {
		return nil, s.factorError(ctx, err)
	}
	now := s.now()
	expires := now.Add(s.cfg.EnrollmentTTL)
	e := &Enrollment{
		ID: newID(), UserID: user.ID, FactorType: status.ID, Label: label, Status: EnrollmentPending,
		CreatedAt: now, ExpiresAt: &expires,
	}
	if actorID != user.ID {
		e.CreatedBy = actorID
	}
	s.seal(e, resp.PendingState)
	if err := s.store.CreateEnrollment(ctx, e); err != nil {
		return nil, err
	}
	return &BeginEnrollmentResult{Enrollment: e, ClientData: resp.ClientData}, nil
}

// CompleteEnrollmentRequest finishes an enrollment with the client's proof.
type CompleteEnrollmentRequest struct {
	EnrollmentID string
	Response     json.RawMessage
	Ticket       string
	// TrustBrowser asks, on a login ticket, to trust this browser as
	// verifyFactor does (ignored when the policy allows no trust).
	TrustBrowser bool
}

// CompleteEnrollmentResult is the active enrollment, the recovery codes
// when it is the user's first factor, and the finished login when a ticket
// was used.
type CompleteEnrollmentResult struct {
	Enrollment    *Enrollment
	RecoveryCodes []string
	Login         *LoginResult
}

// CompleteEnrollment verifies the user's first proof and activates the
// enrollment. With a login ticket it also finishes that login.
func (s *Service) CompleteEnrollment(ctx context.Context, v *Viewer, req CompleteEnrollmentRequest) (*CompleteEnrollmentResult, error) {
	if !validID(req.EnrollmentID) {
		return nil, invalidInput("enrollmentId", "not a valid id")
	}
	if req.TrustBrowser && req.Ticket == "" {
		return nil, invalidInput("trustBrowser", "a browser is trusted only when a login finishes (give the login ticket)")
	}
	user, ticket, actorID, err := s.enrollee(ctx, v, req.Ticket, "")
	if err != nil {
		return nil, err
	}
	e, err := s.store.EnrollmentByID(ctx, req.EnrollmentID)
	if err != nil {
		return nil, notFound(err, "enrollment")
	}
	// An admin completing an enrollment they began for a user.
	if e.UserID != user.ID && v != nil && ticket == nil && e.CreatedBy == v.User.ID {
		if user, err = s.manageableUser(ctx, v, e.UserID); err != nil {
			return nil, err
		}
	}
	now := s.now()
	if e.UserID != user.ID || e.Status != EnrollmentPending {
		return nil, newError(CodeNotFound, "enrollment not found")
	}
	if e.ExpiresAt != nil && !now.Before(*e.ExpiresAt) {
		return nil, &Error{Code: CodeBadUserInput, Field: "enrollmentId", Reason: "EXPIRED", Message: "this enrollment has expired; begin again"}
	}
	if len(req.Response) == 0 || !json.Valid(req.Response) {
		return nil, invalidInput("response", "response must be JSON")
	}
	f, _, err := s.factor(e.FactorType)
	if err != nil {
		return nil, err
	}
	pending, err := s.unseal(e)
	if err != nil {
		return nil, err
	}
	fu, err := s.factorUser(ctx, user)
	if err != nil {
		return nil, err
	}
	resp, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: fu, PendingState: pending, Response: req.Response})
	if err != nil {
		return nil, s.factorError(ctx, err)
	}
	prev := e.Version
	e.Status, e.ActivatedAt, e.ExpiresAt = EnrollmentActive, &now, nil
	e.ExternalID = base64.RawURLEncoding.EncodeToString(resp.ExternalID)
	e.Metadata = resp.Metadata
	if e.Label == "" {
		e.Label = truncate(resp.Label, maxLabelLength)
	}
	if e.Label == "" {
		e.Label = e.FactorType
	}
	s.seal(e, resp.State)

	res := &CompleteEnrollmentResult{Enrollment: e}
	err = s.store.Transaction(ctx, func(tx Store) error {
		active, err := tx.Enrollments(ctx, user.ID, EnrollmentActive)
		if err != nil {
			return err
		}
		if err := tx.UpdateEnrollment(ctx, e, prev); err != nil {
			return err
		}
		if err := s.takeSeat(ctx, tx, user, actorID); err != nil {
			return err
		}
		if err := tx.SyncMFAEnrolled(ctx, user.ID); err != nil {
			return err
		}
		details := map[string]string{"factor_type": e.FactorType, "enrollment_id": e.ID, "label": e.Label}
		if err := s.audit(ctx, tx, user.OrganizationID, actorID, user.ID, AuditFactorEnrolled, details); err != nil {
			return err
		}
		if len(active) == 0 {
			if res.RecoveryCodes, err = s.issueRecoveryCodes(ctx, tx, user, actorID); err != nil {
				return err
			}
		}
		if err := tx.DeleteEnrollmentRequest(ctx, user.ID, e.FactorType); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if ticket != nil {
			if err := tx.ConsumeLoginTicket(ctx, ticket.ID, now); err != nil {
				return err
			}
			if res.Login, err = s.completeLogin(s.withSecondFactor(ctx, ticket, e.FactorType), tx, user, true); err != nil {
				return err
			}
			if req.TrustBrowser {
				return s.trustBrowser(ctx, tx, user, res.Login)
			}
		}
		return nil
	})
	if errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) {
		return nil, &Error{Code: CodeConflict, Message: "this enrollment was completed or changed meanwhile"}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Enrollments lists the user's active enrollments. Users read their own;
// MANAGE_USERS may read anyone's in the organization.
func (s *Service) Enrollments(ctx context.Context, v *Viewer, userID string) ([]Enrollment, error) {
	if userID == "" {
		userID = v.User.ID
	}
	if _, err := s.User(ctx, v, userID); err != nil {
		return nil, err
	}
	return s.store.Enrollments(ctx, userID, EnrollmentActive)
}

// ownEnrollment loads an active enrollment the viewer may manage: their own,
// or (with MANAGE_USERS) one of a user of their organization.
func (s *Service) ownEnrollment(ctx context.Context, v *Viewer, id string) (*Enrollment, *User, error) {
	if !validID(id) {
		return nil, nil, invalidInput("enrollmentId", "not a valid id")
	}
	e, err := s.store.EnrollmentByID(ctx, id)
	if err != nil {
		return nil, nil, notFound(err, "enrollment")
	}
	if e.Status != EnrollmentActive {
		return nil, nil, newError(CodeNotFound, "enrollment not found")
	}
	if e.UserID == v.User.ID {
		u := v.User
		return e, &u, nil
	}
	u, err := s.manageableUser(ctx, v, e.UserID)
	if err != nil {
		if isCode(err, CodeForbidden) && !v.User.Can(PermissionManageUsers) {
			return nil, nil, newError(CodeNotFound, "enrollment not found")
		}
		return nil, nil, err
	}
	return e, u, nil
}

// RenameEnrollment changes an enrollment's label.
func (s *Service) RenameEnrollment(ctx context.Context, v *Viewer, id, label string) (*Enrollment, error) {
	l, err := text("label", label, 1, maxLabelLength)
	if err != nil {
		return nil, err
	}
	e, u, err := s.ownEnrollment(ctx, v, id)
	if err != nil {
		return nil, err
	}
	prev := e.Version
	e.Label = l
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.UpdateEnrollment(ctx, e, prev); err != nil {
			return err
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditFactorRenamed, map[string]string{"enrollment_id": e.ID, "label": l})
	})
	if errors.Is(err, ErrStale) {
		return nil, &Error{Code: CodeConflict, Message: "the enrollment changed meanwhile; try again"}
	}
	return e, err
}

// RemoveEnrollment deletes an enrollment (the viewer's own, or a managed
// user's), within the policy's rules.
func (s *Service) RemoveEnrollment(ctx context.Context, v *Viewer, id string) error {
	e, u, err := s.ownEnrollment(ctx, v, id)
	if err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		active, err := tx.Enrollments(ctx, u.ID, EnrollmentActive)
		if err != nil {
			return err
		}
		if len(active) == 1 && u.ID == v.User.ID {
			if err := s.checkMayRemoveLastFactor(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := tx.DeleteEnrollment(ctx, e.ID); err != nil {
			return err
		}
		if err := s.releaseSeat(ctx, tx, u, u.Status == UserActive, v.User.ID); err != nil {
			return err
		}
		if err := tx.SyncMFAEnrolled(ctx, u.ID); err != nil {
			return err
		}
		if len(active) == 1 {
			if err := tx.DeleteRecoveryCodes(ctx, u.ID); err != nil {
				return err
			}
		}
		if err := s.afterFactorRemoved(ctx, tx, u); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditFactorRemoved, map[string]string{"enrollment_id": e.ID, "factor_type": e.FactorType}); err != nil {
			return err
		}
		if u.ID != v.User.ID {
			// An admin removed it: the user is told.
			d := actorData(v)
			d["factor_type"], d["factor_label"] = e.FactorType, e.Label
			return s.notify(ctx, tx, u.OrganizationID, []User{*u}, EventFactorRemoved, d)
		}
		if len(active) == 1 {
			// The user removed their last factor: their MFA is off.
			return s.notifyManagers(ctx, tx, u, "last_factor_removed")
		}
		return nil
	})
}

// ResealSecrets re-seals every enrollment's state under the current key,
// reading older keys. It returns how many it re-sealed.
func (s *Service) ResealSecrets(ctx context.Context) (int, error) {
	n, after := 0, ""
	for {
		page, err := s.store.EnrollmentsPage(ctx, after, 200)
		if err != nil {
			return n, err
		}
		for i := range page {
			e := &page[i]
			after = e.ID
			if e.KeyID == s.keyring.CurrentKeyID() {
				continue
			}
			plain, err := s.unseal(e)
			if err != nil {
				return n, err
			}
			prev := e.Version
			s.seal(e, plain)
			if err := s.store.UpdateEnrollment(ctx, e, prev); err != nil && !errors.Is(err, ErrStale) {
				return n, err
			}
			n++ // a stale write means a login re-sealed it under the current key already
		}
		if len(page) < 200 {
			return n, nil
		}
	}
}
