package mfa

import (
	"context"
	"errors"
	"time"
)

// LoginTicket carries a login between its password step and its second
// step. The client holds the token; the database holds its hash, so any
// server can finish a login another began. It is single-use and
// short-lived.
type LoginTicket struct {
	ID             string
	TokenHash      string
	OrganizationID string
	// UserID is empty for a passwordless ticket until the credential names
	// the user.
	UserID string
	// Status is the state the ticket is for: MFA_REQUIRED or
	// ENROLLMENT_REQUIRED (or PASSWORDLESS).
	Status LoginStatus
	// ChallengeEnrollmentID and Challenge hold the factor's verification
	// session state (sealed), set by BeginVerification.
	ChallengeEnrollmentID string
	Challenge             []byte
	ChallengeKeyID        string
	CreatedAt             time.Time
	ExpiresAt             time.Time
	ConsumedAt            *time.Time
}

func (t *LoginTicket) aad() string { return "ticket:" + t.ID }

var errBadTicket = &Error{Code: CodeUnauthenticated, Reason: "INVALID_TICKET", Message: "the login ticket is invalid, used or expired; log in again"}

// newTicket creates a ticket through st and returns its token.
func (s *Service) newTicket(ctx context.Context, st Store, user *User, status LoginStatus) (string, *LoginTicket, error) {
	token, hash := newToken()
	now := s.now()
	t := &LoginTicket{
		ID: newID(), TokenHash: hash, OrganizationID: user.OrganizationID, UserID: user.ID,
		Status: status, CreatedAt: now, ExpiresAt: now.Add(s.cfg.LoginTicketTTL),
	}
	if err := st.CreateLoginTicket(ctx, t); err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// openTicket checks a ticket token is valid for status and loads its user.
// Unknown, used, expired and mismatched tickets get one answer.
func (s *Service) openTicket(ctx context.Context, token string, status LoginStatus) (*LoginTicket, *User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, errBadTicket
	}
	t, u, err := s.store.LoginTicketAndUser(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil, errBadTicket
	}
	if err != nil {
		return nil, nil, err
	}
	if t.Status != status || t.ConsumedAt != nil || !s.now().Before(t.ExpiresAt) || t.UserID == "" {
		return nil, nil, errBadTicket
	}
	if u.Status != UserActive {
		return nil, nil, errBadTicket
	}
	return t, u, nil
}
