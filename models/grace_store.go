package models

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
)

// graceStateRow is a user's enrolment grace (mfa/grace.go): when the
// requirement first applied to them, the skips they used, and the last
// reminder sent (days before the deadline).
type graceStateRow struct {
	UserID         string    `gorm:"primaryKey;size:36"`
	OrganizationID string    `gorm:"size:36;not null;index:ix_mfa_grace_states_org"`
	RequiredSince  time.Time `gorm:"not null"`
	SkipsUsed      int       `gorm:"not null;default:0"`
	RemindedDays   *int      ``
}

func (graceStateRow) TableName() string { return "mfa_grace_states" }

func (r *graceStateRow) toMFA() *mfa.GraceState {
	return &mfa.GraceState{UserID: r.UserID, OrganizationID: r.OrganizationID, RequiredSince: r.RequiredSince.UTC(),
		SkipsUsed: r.SkipsUsed, RemindedDays: r.RemindedDays}
}

// reminderDays decodes a policy's JSON list of reminder days (nil: not
// set).
func reminderDays(s *string) []int {
	if s == nil {
		return nil
	}
	out := []int{}
	_ = json.Unmarshal([]byte(*s), &out)
	return out
}

func (s *Store) GraceOf(ctx context.Context, userID string) (*mfa.GraceState, error) {
	var r graceStateRow
	if err := s.conn(ctx).Where("user_id = ?", userID).Take(&r).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, mfa.ErrNotFound
		}
		return nil, translate(err)
	}
	return r.toMFA(), nil
}

func (s *Store) StartGrace(ctx context.Context, st *mfa.GraceState) error {
	r := graceStateRow{UserID: st.UserID, OrganizationID: st.OrganizationID, RequiredSince: st.RequiredSince.UTC()}
	return translate(s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&r).Error)
}

func (s *Store) TakeGraceSkip(ctx context.Context, userID string, max *int) (bool, error) {
	q := s.conn(ctx).Model(&graceStateRow{}).Where("user_id = ?", userID)
	if max != nil {
		q = q.Where("skips_used < ?", *max)
	}
	res := q.Update("skips_used", gorm.Expr("skips_used + 1"))
	return res.RowsAffected == 1, translate(res.Error)
}

func (s *Store) ClaimGraceReminder(ctx context.Context, userID string, days int) (bool, error) {
	res := s.conn(ctx).Model(&graceStateRow{}).Where("user_id = ? AND (reminded_days IS NULL OR reminded_days > ?)", userID, days).
		Update("reminded_days", days)
	return res.RowsAffected == 1, translate(res.Error)
}

// --- the grace resolved in SQL (over policyJoins)

var (
	// graceDaysSQL and maxSkipsSQL are the effective grace settings (NULL:
	// none), reminderDaysSQL the JSON list of reminder days (NULL: the
	// default).
	graceDaysSQL    = storedPolicy.coalesce("grace_period_days", "")
	maxSkipsSQL     = storedPolicy.coalesce("max_enrollment_skips", "")
	reminderDaysSQL = storedPolicy.coalesce("enrollment_reminder_days", "")
)

// graceDeadlineBefore is the condition "g.required_since plus graceDaysSQL
// days is before the one bound argument" (cmp: "<" or "<="), in the
// store's dialect.
func (s *Store) graceDeadlineBefore(cmp string) string {
	if s.Dialect() == "mysql" {
		return "DATE_ADD(g.required_since, INTERVAL " + graceDaysSQL + " DAY) " + cmp + " ?"
	}
	return "julianday(g.required_since) + " + graceDaysSQL + " " + cmp + " julianday(?)"
}

// graceUserFilters are the user list's grace conditions and their
// arguments: mfaOverdue (the grace is used up: the deadline passed or
// every skip is used) and mfaDeadlineBefore; both only of unenrolled users
// MFA is required of at now. They need policyJoins.
func (s *Store) graceUserFilters(f mfa.UserFilter, now time.Time) (where []string, args []any) {
	pending := "users.mfa_enrolled = 0 AND " + mfaRequiredSQL
	if f.MFAOverdue != nil {
		overdue := "(" + pending + " AND EXISTS (SELECT 1 FROM mfa_grace_states g WHERE g.user_id = users.id AND ((" +
			graceDaysSQL + " IS NOT NULL AND " + s.graceDeadlineBefore("<=") + ") OR (" +
			maxSkipsSQL + " IS NOT NULL AND g.skips_used >= " + maxSkipsSQL + "))))"
		if !*f.MFAOverdue {
			overdue = "NOT " + overdue
		}
		where, args = append(where, overdue), append(args, now.UTC(), now.UTC())
	}
	if f.MFADeadlineBefore != nil {
		where = append(where, "("+pending+" AND EXISTS (SELECT 1 FROM mfa_grace_states g WHERE g.user_id = users.id AND "+
			graceDaysSQL+" IS NOT NULL AND "+s.graceDeadlineBefore("<")+"))")
		args = append(args, now.UTC(), f.MFADeadlineBefore.UTC())
	}
	return where, args
}

// graceCandidateRow is a user with their grace state and settings.
type graceCandidateRow struct {
	User           user      `gorm:"embedded"`
	GRequiredSince time.Time `gorm:"column:g_required_since;->"`
	GSkipsUsed     int       `gorm:"column:g_skips_used;->"`
	GRemindedDays  *int      `gorm:"column:g_reminded_days;->"`
	GDays          int       `gorm:"column:g_days;->"`
	GReminderDays  *string   `gorm:"column:g_reminder_days;->"`
}

func (s *Store) GraceReminderCandidates(ctx context.Context, now time.Time, afterUserID string, limit int) ([]mfa.GraceReminderCandidate, error) {
	var rows []graceCandidateRow
	err := s.conn(ctx).Raw("SELECT users.*, g.required_since AS g_required_since, g.skips_used AS g_skips_used, g.reminded_days AS g_reminded_days, "+
		graceDaysSQL+" AS g_days, "+reminderDaysSQL+" AS g_reminder_days"+
		" FROM mfa_grace_states g JOIN users ON users.id = g.user_id"+policyJoins+
		" WHERE g.user_id > ? AND users.status = ? AND users.mfa_enrolled = 0 AND "+mfaRequiredSQL+" AND "+graceDaysSQL+" IS NOT NULL"+
		" ORDER BY g.user_id LIMIT ?", afterUserID, string(mfa.UserActive), now.UTC(), limit).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.GraceReminderCandidate, len(rows))
	for i, r := range rows {
		u := r.User.toMFA()
		out[i] = mfa.GraceReminderCandidate{User: *u, GracePeriodDays: r.GDays, ReminderDays: reminderDays(r.GReminderDays),
			State: mfa.GraceState{UserID: u.ID, OrganizationID: u.OrganizationID, RequiredSince: r.GRequiredSince.UTC(),
				SkipsUsed: r.GSkipsUsed, RemindedDays: r.GRemindedDays}}
	}
	return out, nil
}
