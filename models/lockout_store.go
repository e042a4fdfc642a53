package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
)

// loginThrottle counts failures for a login name that matches no active
// user, so that an unknown name locks exactly as a real user does.
type loginThrottle struct {
	NameHash       string     `gorm:"primaryKey;size:64"`
	FailedAttempts int        `gorm:"not null;default:0"`
	LockedUntil    *time.Time ``
	UpdatedAt      time.Time  `gorm:"not null;index:ix_login_throttles_updated"`
}

// attemptTable names the table and key column that hold sub's counter.
func attemptTable(sub mfa.AttemptSubject) (table, keyCol, key string) {
	if sub.UserID != "" {
		return "users", "id", sub.UserID
	}
	return "login_throttles", "name_hash", sub.Key
}

// TakeAttempt is one conditional UPDATE (plus, for a name, an idempotent
// insert of its counter row): a lock that expired starts a fresh count of
// 1, otherwise the count rises by one, and only while no lock holds and the
// count is under max. Both CASEs read locked_until before it is assigned
// (MySQL assigns left to right, SQLite from the old row), so the statement
// means the same on both engines. On MySQL its row lock queues parallel
// attempts from every server; on SQLite the single writer does.
func (s *Store) TakeAttempt(ctx context.Context, sub mfa.AttemptSubject, now time.Time, max int) (taken, locked bool, err error) {
	db := s.conn(ctx)
	table, col, key := attemptTable(sub)
	touch := ""
	args := []any{now, now}
	if sub.UserID == "" {
		row := loginThrottle{NameHash: key, UpdatedAt: now}
		if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return false, false, translate(err)
		}
		touch = ", updated_at = ?"
		args = append(args, now)
	}
	args = append(args, key, max, now)
	res := db.Exec("UPDATE "+table+" SET"+
		" failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= ? THEN 1 ELSE failed_attempts + 1 END,"+
		" locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= ? THEN NULL ELSE locked_until END"+touch+
		" WHERE "+col+" = ? AND ((locked_until IS NULL AND failed_attempts < ?) OR locked_until <= ?)", args...)
	if res.Error != nil {
		return false, false, translate(res.Error)
	}
	if res.RowsAffected == 1 {
		return true, false, nil
	}
	locked, err = lockedAt(db, table, col, key, now)
	return false, locked, err
}

// lockedAt reads whether the counter row is locked at now.
func lockedAt(db *gorm.DB, table, col, key string, now time.Time) (bool, error) {
	var until *time.Time
	if err := db.Raw("SELECT locked_until FROM "+table+" WHERE "+col+" = ?", key).Row().Scan(&until); err != nil {
		return false, translate(err)
	}
	return until != nil && until.After(now), nil
}

// ReleaseAttempt gives a slot back.
func (s *Store) ReleaseAttempt(ctx context.Context, sub mfa.AttemptSubject) error {
	table, col, key := attemptTable(sub)
	return s.conn(ctx).Exec("UPDATE "+table+" SET failed_attempts = failed_attempts - 1 WHERE "+col+" = ? AND failed_attempts > 0", key).Error
}

// LockAttempts sets the lock when the count reached max.
func (s *Store) LockAttempts(ctx context.Context, sub mfa.AttemptSubject, now time.Time, max int, lockUntil time.Time) (locked, justLocked bool, err error) {
	table, col, key := attemptTable(sub)
	db := s.conn(ctx)
	res := db.Exec("UPDATE "+table+" SET locked_until = ? WHERE "+col+" = ? AND locked_until IS NULL AND failed_attempts >= ?", lockUntil, key, max)
	if res.Error != nil {
		return false, false, res.Error
	}
	if res.RowsAffected == 1 {
		return true, true, nil
	}
	locked, err = lockedAt(db, table, col, key, now)
	return locked, false, err
}

// RecordLoginSuccess writes only the login columns, and only while the user
// is active and not locked: a lock or a deactivation that landed while the
// second factor was checked wins (mfa.ErrStale).
func (s *Store) RecordLoginSuccess(ctx context.Context, userID string, now time.Time, withMFA bool) error {
	set := "failed_attempts = 0, locked_until = NULL, last_login_at = ?"
	args := []any{now}
	if withMFA {
		set += ", last_mfa_at = ?"
		args = append(args, now)
	}
	args = append(args, userID, string(mfa.UserActive), now)
	res := s.conn(ctx).Exec("UPDATE users SET "+set+" WHERE id = ? AND status = ? AND (locked_until IS NULL OR locked_until <= ?)", args...)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return nil
}

// SetPasswordHash replaces the hash only if it is still old (a rehash at
// login never overwrites a password changed meanwhile); otherwise
// mfa.ErrStale.
func (s *Store) SetPasswordHash(ctx context.Context, userID, old, next string) error {
	res := s.conn(ctx).Exec("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", next, userID, old)
	if res.Error == nil && res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return res.Error
}
