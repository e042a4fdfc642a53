package models

import (
	"context"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
)

// recoveryLink is an emailed single-use link (lost device, forgotten
// password); only its token's SHA-256 is stored.
type recoveryLink struct {
	ID             string     `gorm:"primaryKey;size:36"`
	Purpose        string     `gorm:"size:16;not null;index:ix_recovery_links_subject,priority:2"`
	OrganizationID string     `gorm:"size:36;not null"`
	Subject        string     `gorm:"size:64;not null;index:ix_recovery_links_subject,priority:1"`
	UserID         string     `gorm:"size:36;not null;index:ix_recovery_links_user"`
	TokenHash      string     `gorm:"size:64;not null;uniqueIndex:ux_recovery_links_token"`
	CreatedAt      time.Time  `gorm:"not null;index:ix_recovery_links_subject,priority:3"`
	ExpiresAt      time.Time  `gorm:"not null;index:ix_recovery_links_expires"`
	UsedAt         *time.Time ``
}

func (recoveryLink) TableName() string { return "recovery_links" }

// notificationJob is a notification fan-out expanded page by page.
type notificationJob struct {
	ID             string `gorm:"primaryKey;size:36"`
	OrganizationID string `gorm:"size:36;not null"`
	Kind           string `gorm:"size:32;not null"`
	Data           string `gorm:"type:text;not null"`
	// Cursor is the id of the last user handled.
	Cursor    string    `gorm:"column:after_user_id;size:36;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (notificationJob) TableName() string { return "notification_jobs" }

func (r *recoveryLink) toMFA() *mfa.RecoveryLink {
	return &mfa.RecoveryLink{
		ID: r.ID, Purpose: mfa.LinkPurpose(r.Purpose), OrganizationID: r.OrganizationID, Subject: r.Subject, UserID: r.UserID,
		TokenHash: r.TokenHash, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), UsedAt: utc(r.UsedAt),
	}
}

// CreateRecoveryLink inserts the link only while its subject has fewer
// than max links of the purpose since the given time: the count and the
// insert are one statement, so parallel requests on several servers cannot
// all pass the check. On MariaDB the count's shared locks make concurrent
// inserts of one subject deadlock; Transaction runs the loser again, and it
// then counts the winner's row.
func (s *Store) CreateRecoveryLink(ctx context.Context, l *mfa.RecoveryLink, since time.Time, max int) (bool, error) {
	res := s.conn(ctx).Exec("INSERT INTO recovery_links (id, purpose, organization_id, subject, user_id, token_hash, created_at, expires_at) "+
		"SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM (SELECT COUNT(*) AS n FROM recovery_links WHERE subject = ? AND purpose = ? AND created_at > ?) c WHERE c.n < ?",
		l.ID, string(l.Purpose), l.OrganizationID, l.Subject, l.UserID, l.TokenHash, l.CreatedAt, l.ExpiresAt,
		l.Subject, string(l.Purpose), since, max)
	if res.Error != nil {
		return false, translate(res.Error)
	}
	return res.RowsAffected == 1, nil
}

func (s *Store) RecoveryLinkByHash(ctx context.Context, purpose mfa.LinkPurpose, hash string) (*mfa.RecoveryLink, error) {
	var r recoveryLink
	if err := first(s.conn(ctx), &r, "token_hash = ? AND purpose = ?", hash, string(purpose)); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) ConsumeRecoveryLink(ctx context.Context, id string, now time.Time) error {
	res := s.conn(ctx).Model(&recoveryLink{}).Where("id = ? AND used_at IS NULL AND expires_at > ? AND user_id <> ''", id, now).Update("used_at", now)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return nil
}

func (s *Store) ConsumeUserRecoveryLinks(ctx context.Context, userID string, purpose mfa.LinkPurpose, now time.Time) error {
	return translate(s.conn(ctx).Model(&recoveryLink{}).Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, string(purpose)).
		Update("used_at", now).Error)
}

// OrganizationManagers reads the organization's active managers without
// locking them (LockActiveManagers is the locking read).
func (s *Store) OrganizationManagers(ctx context.Context, orgID string) ([]mfa.User, error) {
	var rows []user
	err := s.conn(ctx).Where("organization_id = ? AND status = ? AND permissions LIKE ?", orgID, string(mfa.UserActive), "%"+string(mfa.PermissionManageOrganization)+"%").
		Order("id").Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	var out []mfa.User
	for i := range rows {
		if slices.Contains(strings.Split(rows[i].Permissions, ","), string(mfa.PermissionManageOrganization)) {
			out = append(out, *rows[i].toMFA())
		}
	}
	return out, nil
}

func (s *Store) UsersInScope(ctx context.Context, orgID string, sc mfa.PolicyScope, afterID string, limit int) ([]mfa.User, error) {
	db := s.conn(ctx).Where("organization_id = ? AND status = ? AND id > ?", orgID, string(mfa.UserActive), afterID)
	if sc.UserID != "" {
		db = db.Where("id = ?", sc.UserID)
	}
	if sc.CompanyID != "" {
		db = db.Where("company_id = ?", sc.CompanyID)
	}
	if sc.UserType != "" {
		db = db.Where("user_type = ?", sc.UserType)
	}
	var rows []user
	if err := db.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.User, len(rows))
	for i := range rows {
		out[i] = *rows[i].toMFA()
	}
	return out, nil
}

func (s *Store) CreateNotificationJob(ctx context.Context, j *mfa.NotificationJob) error {
	return translate(s.conn(ctx).Create(&notificationJob{ID: j.ID, OrganizationID: j.OrganizationID, Kind: j.Kind, Data: j.Data,
		Cursor: j.Cursor, CreatedAt: j.CreatedAt}).Error)
}

func (s *Store) NotificationJobs(ctx context.Context, limit int) ([]mfa.NotificationJob, error) {
	var rows []notificationJob
	if err := s.conn(ctx).Order("created_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.NotificationJob, len(rows))
	for i, r := range rows {
		out[i] = mfa.NotificationJob{ID: r.ID, OrganizationID: r.OrganizationID, Kind: r.Kind, Data: r.Data, Cursor: r.Cursor, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

func (s *Store) AdvanceNotificationJob(ctx context.Context, id, prev, next string, done bool) error {
	db := s.conn(ctx).Where("id = ? AND after_user_id = ?", id, prev)
	if done {
		return staleIfNone(db.Delete(&notificationJob{}))
	}
	return staleIfNone(db.Model(&notificationJob{}).Update("after_user_id", next))
}

// staleIfNone turns "no row changed" into mfa.ErrStale.
func staleIfNone(res *gorm.DB) error {
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return nil
}
