package models

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

func fromEnrollment(e *mfa.Enrollment) (*enrollment, error) {
	var meta string
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, err
		}
		meta = string(b)
	}
	return &enrollment{
		ID: e.ID, UserID: e.UserID, FactorType: e.FactorType, Label: e.Label, Status: string(e.Status),
		State: e.State, KeyID: e.KeyID, Version: e.Version, ExternalID: e.ExternalID, Metadata: meta,
		CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, ActivatedAt: e.ActivatedAt, LastUsedAt: e.LastUsedAt, ExpiresAt: e.ExpiresAt,
	}, nil
}

func (r *enrollment) toMFA() mfa.Enrollment {
	e := mfa.Enrollment{
		ID: r.ID, UserID: r.UserID, FactorType: r.FactorType, Label: r.Label, Status: mfa.EnrollmentStatus(r.Status),
		State: r.State, KeyID: r.KeyID, Version: r.Version, ExternalID: r.ExternalID, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), ActivatedAt: utc(r.ActivatedAt), LastUsedAt: utc(r.LastUsedAt), ExpiresAt: utc(r.ExpiresAt),
	}
	if r.Metadata != "" {
		_ = json.Unmarshal([]byte(r.Metadata), &e.Metadata)
	}
	return e
}

func (s *Store) CreateEnrollment(ctx context.Context, e *mfa.Enrollment) error {
	r, err := fromEnrollment(e)
	if err != nil {
		return err
	}
	return translate(s.conn(ctx).Create(r).Error)
}

func (s *Store) EnrollmentByID(ctx context.Context, id string) (*mfa.Enrollment, error) {
	var r enrollment
	if err := first(s.conn(ctx), &r, "id = ?", id); err != nil {
		return nil, err
	}
	e := r.toMFA()
	return &e, nil
}

func (s *Store) EnrollmentByExternalID(ctx context.Context, factorType, externalID string) (*mfa.Enrollment, error) {
	var r enrollment
	if err := first(s.conn(ctx), &r, "factor_type = ? AND external_id = ? AND status = ?", factorType, externalID, string(mfa.EnrollmentActive)); err != nil {
		return nil, err
	}
	e := r.toMFA()
	return &e, nil
}

func (s *Store) Enrollments(ctx context.Context, userID string, status mfa.EnrollmentStatus) ([]mfa.Enrollment, error) {
	db := s.conn(ctx).Where("user_id = ?", userID)
	if status != "" {
		db = db.Where("status = ?", string(status))
	}
	var rows []enrollment
	if err := db.Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	return toEnrollments(rows), nil
}

func (s *Store) EnrollmentsOfUsers(ctx context.Context, userIDs []string, status mfa.EnrollmentStatus) ([]mfa.Enrollment, error) {
	var rows []enrollment
	if err := s.conn(ctx).Where("user_id IN ? AND status = ?", userIDs, string(status)).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	return toEnrollments(rows), nil
}

func toEnrollments(rows []enrollment) []mfa.Enrollment {
	out := make([]mfa.Enrollment, len(rows))
	for i := range rows {
		out[i] = rows[i].toMFA()
	}
	return out
}

func (s *Store) UpdateEnrollment(ctx context.Context, e *mfa.Enrollment, prevVersion int) error {
	r, err := fromEnrollment(e)
	if err != nil {
		return err
	}
	res := s.conn(ctx).Model(&enrollment{}).Where("id = ? AND version = ?", e.ID, prevVersion).Updates(map[string]any{
		"label": r.Label, "status": r.Status, "state": r.State, "key_id": r.KeyID, "external_id": r.ExternalID,
		"metadata": r.Metadata, "activated_at": r.ActivatedAt, "last_used_at": r.LastUsedAt, "expires_at": r.ExpiresAt,
		"version": prevVersion + 1,
	})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	e.Version = prevVersion + 1
	return nil
}

func (s *Store) DeleteEnrollment(ctx context.Context, id string) error {
	return updated(s.conn(ctx).Where("id = ?", id).Delete(&enrollment{}))
}

func (s *Store) EnrollmentsPage(ctx context.Context, afterID string, limit int) ([]mfa.Enrollment, error) {
	var rows []enrollment
	if err := s.conn(ctx).Where("id > ?", afterID).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	return toEnrollments(rows), nil
}

// --- login tickets

func (s *Store) CreateLoginTicket(ctx context.Context, t *mfa.LoginTicket) error {
	return translate(s.conn(ctx).Create(&loginTicket{
		ID: t.ID, TokenHash: t.TokenHash, OrganizationID: t.OrganizationID, UserID: t.UserID, Status: string(t.Status),
		ChallengeEnrollmentID: t.ChallengeEnrollmentID, Challenge: t.Challenge, ChallengeKeyID: t.ChallengeKeyID,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, ConsumedAt: t.ConsumedAt,
	}).Error)
}

func (s *Store) LoginTicketByHash(ctx context.Context, hash string) (*mfa.LoginTicket, error) {
	var r loginTicket
	if err := first(s.conn(ctx), &r, "token_hash = ?", hash); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) SetTicketChallenge(ctx context.Context, t *mfa.LoginTicket) error {
	res := s.conn(ctx).Model(&loginTicket{}).Where("id = ? AND consumed_at IS NULL", t.ID).Updates(map[string]any{
		"challenge_enrollment_id": t.ChallengeEnrollmentID, "challenge": t.Challenge, "challenge_key_id": t.ChallengeKeyID, "user_id": t.UserID,
	})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return nil
}

func (s *Store) ConsumeLoginTicket(ctx context.Context, id string, at time.Time) error {
	res := s.conn(ctx).Model(&loginTicket{}).Where("id = ? AND consumed_at IS NULL", id).Update("consumed_at", at)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return nil
}

// --- recovery codes

func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	db := s.conn(ctx)
	// Delete by primary key what a plain read finds: a DELETE ... WHERE
	// user_id takes gap locks on MySQL even when there is nothing to delete,
	// and two first enrolments' inserts into the same gap then deadlock.
	var ids []uint
	if err := db.Model(&recoveryCode{}).Where("user_id = ?", userID).Pluck("id", &ids).Error; err != nil {
		return err
	}
	if len(ids) > 0 {
		if err := db.Where("id IN ?", ids).Delete(&recoveryCode{}).Error; err != nil {
			return err
		}
	}
	rows := make([]recoveryCode, len(hashes))
	for i, h := range hashes {
		rows[i] = recoveryCode{UserID: userID, CodeHash: h, CreatedAt: at}
	}
	return translate(db.Create(&rows).Error)
}

func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) error {
	return updated(s.conn(ctx).Model(&recoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hash).Update("used_at", at))
}

func (s *Store) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	return s.conn(ctx).Where("user_id = ?", userID).Delete(&recoveryCode{}).Error
}

func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.conn(ctx).Model(&recoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	return int(n), err
}
