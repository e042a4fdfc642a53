package mfa

import (
	"context"
	"errors"
	"time"
)

// TrustedBrowser lets logins from one browser skip the second factor for
// the policy's trusted-browser days. Only the token's hash is stored.
type TrustedBrowser struct {
	ID         string
	UserID     string
	TokenHash  string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
}

// browserTrusted reports whether token names a trusted browser of user that
// the current policy still honours. Shortening the policy's days shortens
// browsers trusted before.
func (s *Service) browserTrusted(ctx context.Context, user *User, pol *EffectivePolicy, token string) (bool, error) {
	days := pol.TrustedBrowserDays.Value
	if token == "" || len(token) > 128 || days <= 0 {
		return false, nil
	}
	tb, err := s.store.TrustedBrowserByHash(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := s.now()
	expires := tb.ExpiresAt
	if byPolicy := tb.CreatedAt.Add(time.Duration(days) * 24 * time.Hour); byPolicy.Before(expires) {
		expires = byPolicy
	}
	if tb.UserID != user.ID || !now.Before(expires) {
		return false, nil
	}
	return true, s.store.TouchTrustedBrowser(ctx, tb.ID, now)
}

// trustBrowser issues a trusted-browser token onto res, in tx, when the
// policy allows trust.
func (s *Service) trustBrowser(ctx context.Context, tx Store, user *User, res *LoginResult) error {
	pol, err := s.effectivePolicy(ctx, tx, user)
	if err != nil {
		return err
	}
	days := pol.TrustedBrowserDays.Value
	if days <= 0 {
		return nil
	}
	now := s.now()
	token, hash := newToken()
	c := ClientFrom(ctx)
	tb := &TrustedBrowser{ID: newID(), UserID: user.ID, TokenHash: hash, IP: c.IP, UserAgent: truncate(c.UserAgent, 255),
		CreatedAt: now, ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour)}
	if err := tx.CreateTrustedBrowser(ctx, tb); err != nil {
		return err
	}
	res.TrustedBrowserToken, res.TrustedBrowserExpiresAt = token, tb.ExpiresAt
	if err := s.audit(ctx, tx, user.OrganizationID, user.ID, user.ID, AuditTrustGranted, map[string]string{"trusted_browser_id": tb.ID, "days": itoa(days)}); err != nil {
		return err
	}
	return s.notify(ctx, tx, user.OrganizationID, []User{*user}, EventBrowserTrusted, map[string]string{
		"browser": tb.UserAgent, "ip": tb.IP, "until": tb.ExpiresAt.Format(time.RFC3339),
	})
}

// TrustedBrowsers lists a user's trusted browsers (their own, or with
// MANAGE_USERS anyone's in the organization).
func (s *Service) TrustedBrowsers(ctx context.Context, v *Viewer, userID string) ([]TrustedBrowser, error) {
	if userID == "" {
		userID = v.User.ID
	}
	if _, err := s.User(ctx, v, userID); err != nil {
		return nil, err
	}
	return s.store.TrustedBrowsers(ctx, userID)
}

// RevokeTrustedBrowser revokes one trusted browser of the viewer, or (with
// MANAGE_USERS) of a user of the organization they may manage.
func (s *Service) RevokeTrustedBrowser(ctx context.Context, v *Viewer, id string) error {
	if !validID(id) {
		return invalidInput("trustedBrowserId", "not a valid id")
	}
	tb, err := s.store.TrustedBrowserByID(ctx, id)
	if err != nil {
		return notFound(err, "trusted browser")
	}
	u, err := s.User(ctx, v, tb.UserID)
	if err != nil {
		// Another user's browser is not even visible without MANAGE_USERS.
		if isCode(err, CodeForbidden) {
			return newError(CodeNotFound, "trusted browser not found")
		}
		return err
	}
	if u.ID != v.User.ID {
		if err := mayManage(v, u); err != nil {
			return err
		}
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.DeleteTrustedBrowser(ctx, tb.ID); err != nil {
			return notFound(err, "trusted browser")
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditTrustRevoked, map[string]string{"trusted_browser_id": tb.ID})
	})
}

// RevokeAllTrustedBrowsers revokes every trusted browser of the user (the
// viewer when userID is empty; another user needs MANAGE_USERS and, for an
// organization manager, MANAGE_ORGANIZATION).
func (s *Service) RevokeAllTrustedBrowsers(ctx context.Context, v *Viewer, userID string) error {
	if userID == "" {
		userID = v.User.ID
	}
	u, err := s.User(ctx, v, userID)
	if err != nil {
		return err
	}
	if u.ID != v.User.ID {
		if err := mayManage(v, u); err != nil {
			return err
		}
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.DeleteUserTrustedBrowsers(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditTrustRevoked, map[string]string{"all": "true"})
	})
}
