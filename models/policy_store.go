package models

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
)

func fromPolicy(p *mfa.Policy) *policy {
	r := &policy{
		ID: p.ID, OrganizationID: p.OrganizationID, CompanyID: p.Scope.CompanyID, UserType: p.Scope.UserType, UserID: p.Scope.UserID,
		EnforceFrom: p.EnforceFrom, TrustedBrowserDays: p.TrustedBrowserDays, MaxFailedAttempts: p.MaxFailedAttempts,
		LockoutMinutes: p.LockoutMinutes, AllowPasswordless: p.AllowPasswordless, AllowSelfServiceRecovery: p.AllowSelfServiceRecovery, UpdatedBy: p.UpdatedBy, UpdatedAt: p.UpdatedAt,
	}
	if p.Mode != nil {
		m := string(*p.Mode)
		r.Mode = &m
	}
	if p.AllowedFactorTypes != nil {
		b, _ := json.Marshal(p.AllowedFactorTypes)
		s := string(b)
		r.AllowedFactorTypes = &s
	}
	r.GracePeriodDays, r.MaxEnrollmentSkips = p.GracePeriodDays, p.MaxEnrollmentSkips
	if p.EnrollmentReminderDays != nil {
		b, _ := json.Marshal(p.EnrollmentReminderDays)
		s := string(b)
		r.EnrollmentReminderDays = &s
	}
	return r
}

func (r *policy) toMFA() mfa.Policy {
	p := mfa.Policy{
		ID: r.ID, OrganizationID: r.OrganizationID, Scope: mfa.PolicyScope{CompanyID: r.CompanyID, UserType: r.UserType, UserID: r.UserID},
		UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC(),
	}
	p.EnforceFrom, p.TrustedBrowserDays, p.MaxFailedAttempts = utc(r.EnforceFrom), r.TrustedBrowserDays, r.MaxFailedAttempts
	p.LockoutMinutes, p.AllowPasswordless = r.LockoutMinutes, r.AllowPasswordless
	p.AllowSelfServiceRecovery = r.AllowSelfServiceRecovery
	if r.Mode != nil {
		m := mfa.MfaMode(*r.Mode)
		p.Mode = &m
	}
	if r.AllowedFactorTypes != nil {
		p.AllowedFactorTypes = []string{}
		_ = json.Unmarshal([]byte(*r.AllowedFactorTypes), &p.AllowedFactorTypes)
	}
	p.GracePeriodDays, p.MaxEnrollmentSkips = r.GracePeriodDays, r.MaxEnrollmentSkips
	p.EnrollmentReminderDays = reminderDays(r.EnrollmentReminderDays)
	return p
}

func (s *Store) UpsertPolicy(ctx context.Context, p *mfa.Policy) error {
	r := fromPolicy(p)
	return translate(s.conn(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "organization_id"}, {Name: "company_id"}, {Name: "user_type"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"mode", "allowed_factor_types", "enforce_from", "trusted_browser_days",
			"max_failed_attempts", "lockout_minutes", "allow_passwordless", "allow_self_service_recovery", "grace_period_days", "max_enrollment_skips", "enrollment_reminder_days",
			"updated_by", "updated_at"}),
	}).Create(r).Error)
}

// LockPolicy is a locking read (FOR UPDATE on MySQL) of exactly one
// scope's row: a patch reads and writes it under the lock, so two admins
// patching one scope at once both keep their fields. A missing row locks
// its gap; two first inserts then deadlock, and Transaction runs the loser
// again. SQLite transactions hold the write lock from BEGIN.
func (s *Store) LockPolicy(ctx context.Context, orgID string, sc mfa.PolicyScope) (*mfa.Policy, error) {
	var r policy
	err := s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("organization_id = ? AND company_id = ? AND user_type = ? AND user_id = ?", orgID, sc.CompanyID, sc.UserType, sc.UserID).
		Take(&r).Error
	if err != nil {
		return nil, translate(err)
	}
	p := r.toMFA()
	return &p, nil
}

func (s *Store) DeletePolicy(ctx context.Context, orgID string, sc mfa.PolicyScope) error {
	return updated(s.conn(ctx).Where("organization_id = ? AND company_id = ? AND user_type = ? AND user_id = ?",
		orgID, sc.CompanyID, sc.UserType, sc.UserID).Delete(&policy{}))
}

func (s *Store) Policies(ctx context.Context, orgID string) ([]mfa.Policy, error) {
	var rows []policy
	if err := s.conn(ctx).Where("organization_id = ?", orgID).Order("user_id, company_id, user_type").Find(&rows).Error; err != nil {
		return nil, err
	}
	return toPolicies(rows), nil
}

func (s *Store) PoliciesFor(ctx context.Context, orgID, userID, companyID, userType string) ([]mfa.Policy, error) {
	var rows []policy
	err := s.conn(ctx).Where("organization_id = ? AND ("+
		"(user_id = ?) OR "+
		"(user_id = '' AND company_id = '' AND user_type = '') OR "+
		"(user_id = '' AND company_id = ? AND company_id <> '' AND (user_type = '' OR user_type = ?)) OR "+
		"(user_id = '' AND company_id = '' AND user_type = ? AND user_type <> ''))",
		orgID, userID, companyID, userType, userType).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	return toPolicies(rows), nil
}

func toPolicies(rows []policy) []mfa.Policy {
	out := make([]mfa.Policy, len(rows))
	for i := range rows {
		out[i] = rows[i].toMFA()
	}
	return out
}

// --- trusted browsers

func (r *trustedBrowser) toMFA() mfa.TrustedBrowser {
	return mfa.TrustedBrowser{ID: r.ID, UserID: r.UserID, TokenHash: r.TokenHash, IP: r.IP, UserAgent: r.UserAgent,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), LastUsedAt: utc(r.LastUsedAt)}
}

func (s *Store) CreateTrustedBrowser(ctx context.Context, tb *mfa.TrustedBrowser) error {
	return translate(s.conn(ctx).Create(&trustedBrowser{ID: tb.ID, UserID: tb.UserID, TokenHash: tb.TokenHash, IP: tb.IP,
		UserAgent: tb.UserAgent, CreatedAt: tb.CreatedAt, ExpiresAt: tb.ExpiresAt}).Error)
}

func (s *Store) TrustedBrowserByHash(ctx context.Context, hash string) (*mfa.TrustedBrowser, error) {
	var r trustedBrowser
	if err := first(s.conn(ctx), &r, "token_hash = ?", hash); err != nil {
		return nil, err
	}
	tb := r.toMFA()
	return &tb, nil
}

func (s *Store) TrustedBrowserByID(ctx context.Context, id string) (*mfa.TrustedBrowser, error) {
	var r trustedBrowser
	if err := first(s.conn(ctx), &r, "id = ?", id); err != nil {
		return nil, err
	}
	tb := r.toMFA()
	return &tb, nil
}

func (s *Store) TrustedBrowsers(ctx context.Context, userID string) ([]mfa.TrustedBrowser, error) {
	var rows []trustedBrowser
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at DESC, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]mfa.TrustedBrowser, len(rows))
	for i := range rows {
		out[i] = rows[i].toMFA()
	}
	return out, nil
}

func (s *Store) TouchTrustedBrowser(ctx context.Context, id string, at time.Time) error {
	return s.conn(ctx).Model(&trustedBrowser{}).Where("id = ?", id).Update("last_used_at", at).Error
}

func (s *Store) DeleteTrustedBrowser(ctx context.Context, id string) error {
	return updated(s.conn(ctx).Where("id = ?", id).Delete(&trustedBrowser{}))
}

func (s *Store) DeleteUserTrustedBrowsers(ctx context.Context, userID string) error {
	return s.conn(ctx).Where("user_id = ?", userID).Delete(&trustedBrowser{}).Error
}

// --- enrollment requests

func (s *Store) CreateEnrollmentRequest(ctx context.Context, r *mfa.EnrollmentRequest) error {
	return translate(s.conn(ctx).Create(&enrollmentRequest{ID: r.ID, UserID: r.UserID, FactorType: r.FactorType,
		RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt}).Error)
}

func (s *Store) EnrollmentRequests(ctx context.Context, userID string) ([]mfa.EnrollmentRequest, error) {
	var rows []enrollmentRequest
	if err := s.conn(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]mfa.EnrollmentRequest, len(rows))
	for i, r := range rows {
		out[i] = mfa.EnrollmentRequest{ID: r.ID, UserID: r.UserID, FactorType: r.FactorType, RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

func (s *Store) DeleteEnrollmentRequest(ctx context.Context, userID, factorType string) error {
	return updated(s.conn(ctx).Where("user_id = ? AND factor_type = ?", userID, factorType).Delete(&enrollmentRequest{}))
}

func (s *Store) DeleteUserEnrollments(ctx context.Context, userID string) error {
	return s.conn(ctx).Where("user_id = ?", userID).Delete(&enrollment{}).Error
}

func (s *Store) PurgeExpired(ctx context.Context, now, idleCutoff time.Time) (int64, error) {
	var n int64
	err := s.Transaction(ctx, func(tx mfa.Store) error {
		db := tx.(*Store).conn(ctx)
		for _, del := range []*gorm.DB{
			db.Where("expires_at <= ? OR last_seen_at <= ?", now, idleCutoff).Delete(&session{}),
			db.Where("expires_at <= ?", now).Delete(&loginTicket{}),
			db.Where("status = ? AND expires_at <= ?", string(mfa.EnrollmentPending), now).Delete(&enrollment{}),
			db.Where("expires_at <= ?", now).Delete(&trustedBrowser{}),
			// Links stay an hour past their expiry: the per-account limit counts them.
			db.Where("expires_at <= ? AND created_at <= ?", now, now.Add(-time.Hour)).Delete(&recoveryLink{}),
			// A name's count ends a day after its last attempt, unless locked.
			db.Where("updated_at <= ? AND (locked_until IS NULL OR locked_until <= ?)", now.Add(-24*time.Hour), now).Delete(&loginThrottle{}),
		} {
			if del.Error != nil {
				return del.Error
			}
			n += del.RowsAffected
		}
		return nil
	})
	return n, err
}
