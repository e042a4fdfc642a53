package mfa

import (
	"context"
	"errors"
	"time"
)

// EnrollmentRequest is an admin asking a user to set up a factor type at
// their next login (e.g. "set up a passkey").
type EnrollmentRequest struct {
	ID          string
	UserID      string
	FactorType  string
	RequestedBy string
	CreatedAt   time.Time
}

// RequestEnrollment asks a user to enrol factorType at their next login.
func (s *Service) RequestEnrollment(ctx context.Context, v *Viewer, userID, factorType string) (*EnrollmentRequest, error) {
	u, err := s.manageableUser(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.factor(factorType); err != nil {
		return nil, err
	}
	if err := s.checkFactorAllowed(ctx, u, factorType); err != nil {
		return nil, err
	}
	r := &EnrollmentRequest{ID: newID(), UserID: u.ID, FactorType: factorType, RequestedBy: v.User.ID, CreatedAt: s.now()}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.CreateEnrollmentRequest(ctx, r); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditEnrollmentRequested, map[string]string{"factor_type": factorType}); err != nil {
			return err
		}
		return s.notify(ctx, tx, u.OrganizationID, []User{*u}, EventMFARequired, map[string]string{"reason": "enrollment_request"})
	})
	if errors.Is(err, ErrDuplicate) {
		return nil, &Error{Code: CodeConflict, Message: "this factor type is already requested for the user"}
	}
	return r, err
}

// CancelEnrollmentRequest withdraws a request.
func (s *Service) CancelEnrollmentRequest(ctx context.Context, v *Viewer, userID, factorType string) error {
	u, err := s.manageableUser(ctx, v, userID)
	if err != nil {
		return err
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.DeleteEnrollmentRequest(ctx, u.ID, factorType); err != nil {
			return notFound(err, "enrollment request")
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditEnrollmentReqCancel, map[string]string{"factor_type": factorType})
	})
}

// EnrollmentRequests lists a user's open requests (visible to the user and
// to MANAGE_USERS).
func (s *Service) EnrollmentRequests(ctx context.Context, v *Viewer, userID string) ([]EnrollmentRequest, error) {
	if _, err := s.User(ctx, v, userID); err != nil {
		return nil, err
	}
	return s.store.EnrollmentRequests(ctx, userID)
}
