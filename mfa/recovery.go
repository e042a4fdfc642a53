package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
)

// RecoveryCodeCount codes are issued at a time.
const RecoveryCodeCount = 10

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode returns an 80-bit code grouped for reading:
// xxxx-xxxx-xxxx-xxxx (lowercase base32).
func newRecoveryCode() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	s := strings.ToLower(recoveryEncoding.EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// normalizeRecoveryCode accepts a code typed with any case, spaces or dashes.
func normalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		if r != '-' && r != ' ' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) != 16 {
		return s
	}
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// issueRecoveryCodes replaces the user's codes through st and returns the
// new ones: the only time they exist in clear.
func (s *Service) issueRecoveryCodes(ctx context.Context, st Store, u *User, actorID string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = hashToken(codes[i])
	}
	if err := st.ReplaceRecoveryCodes(ctx, u.ID, hashes, s.now()); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, st, u.OrganizationID, actorID, u.ID, AuditRecoveryCodesIssued, nil); err != nil {
		return nil, err
	}
	return codes, nil
}

// RegenerateRecoveryCodes replaces the viewer's recovery codes. It needs an
// active factor: codes stand in for one.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, v *Viewer) ([]string, error) {
	active, err := s.store.Enrollments(ctx, v.User.ID, EnrollmentActive)
	if err != nil {
		return nil, err
	}
	if len(active) == 0 {
		return nil, &Error{Code: CodeForbidden, Message: "enrol a factor before creating recovery codes"}
	}
	var codes []string
	err = s.store.Transaction(ctx, func(tx Store) error {
		codes, err = s.issueRecoveryCodes(ctx, tx, &v.User, v.User.ID)
		return err
	})
	return codes, err
}

// RecoveryCodesLeft counts the user's unused recovery codes (the caller
// could already see the user).
func (s *Service) RecoveryCodesLeft(ctx context.Context, u *User) (int, error) {
	return s.store.RecoveryCodesLeft(ctx, u.ID)
}

// useRecoveryCode consumes one of the user's codes through st.
func useRecoveryCode(ctx context.Context, st Store, userID, code string, s *Service) (bool, error) {
	err := st.UseRecoveryCode(ctx, userID, hashToken(normalizeRecoveryCode(code)), s.now())
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
