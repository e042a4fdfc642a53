package models

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
)

// licenseRow is an organization's licence and switches; absent means the
// defaults (unlimited, subscribed, on, not suspended). used is the seat
// counter, changed only by conditional updates in the transactions that
// take or give back a seat.
type licenseRow struct {
	OrganizationID string     `gorm:"primaryKey;size:36"`
	Seats          *int       ``
	Used           int        `gorm:"not null;default:0"`
	MFASubscribed  bool       `gorm:"column:mfa_subscribed;not null;default:true"`
	MFAEnabled     bool       `gorm:"column:mfa_enabled;not null;default:true"`
	SuspendedAt    *time.Time ``
	Alert80Sent    bool       `gorm:"column:alert80_sent;not null;default:false"`
	Alert100Sent   bool       `gorm:"column:alert100_sent;not null;default:false"`
	UpdatedAt      time.Time  `gorm:"not null"`
}

// licenseUsageRow is the seat usage at the end of a day.
type licenseUsageRow struct {
	OrganizationID string `gorm:"primaryKey;size:36"`
	Day            string `gorm:"primaryKey;size:10"`
	Used           int    `gorm:"not null"`
	Seats          *int   ``
}

// billingContactRow marks a user who receives the licence usage alerts.
type billingContactRow struct {
	UserID         string `gorm:"primaryKey;size:36"`
	OrganizationID string `gorm:"size:36;not null;index:ix_billing_contacts_org"`
}

func (licenseRow) TableName() string        { return "licenses" }
func (licenseUsageRow) TableName() string   { return "license_usage_days" }
func (billingContactRow) TableName() string { return "billing_contacts" }

func (r *licenseRow) toMFA() *mfa.License {
	l := &mfa.License{OrganizationID: r.OrganizationID, Seats: r.Seats, Used: r.Used, MFASubscribed: r.MFASubscribed,
		MFAEnabled: r.MFAEnabled, Alert80Sent: r.Alert80Sent, Alert100Sent: r.Alert100Sent, UpdatedAt: r.UpdatedAt.UTC()}
	if r.SuspendedAt != nil {
		t := r.SuspendedAt.UTC()
		l.SuspendedAt = &t
	}
	return l
}

func (s *Store) LicenseOf(ctx context.Context, orgID string) (*mfa.License, error) {
	var r licenseRow
	if err := first(s.conn(ctx), &r, "organization_id = ?", orgID); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) LockLicense(ctx context.Context, orgID string) (*mfa.License, error) {
	row := licenseRow{OrganizationID: orgID, MFASubscribed: true, MFAEnabled: true, UpdatedAt: time.Now().UTC()}
	if err := s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return nil, translate(err)
	}
	var r licenseRow
	if err := first(s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE"}), &r, "organization_id = ?", orgID); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) SaveLicense(ctx context.Context, l *mfa.License) error {
	return updated(s.conn(ctx).Model(&licenseRow{}).Where("organization_id = ?", l.OrganizationID).Updates(map[string]any{
		"seats": l.Seats, "used": l.Used, "mfa_subscribed": l.MFASubscribed, "mfa_enabled": l.MFAEnabled,
		"suspended_at": l.SuspendedAt, "alert80_sent": l.Alert80Sent, "alert100_sent": l.Alert100Sent, "updated_at": l.UpdatedAt.UTC(),
	}))
}

func (s *Store) CountSeatHolders(ctx context.Context, orgID string) (int, error) {
	var n int64
	err := s.conn(ctx).Table("users").Where("organization_id = ? AND status = ? AND mfa_enrolled = ?", orgID, string(mfa.UserActive), true).Count(&n).Error
	return int(n), translate(err)
}

func (s *Store) MarkSeatHolder(ctx context.Context, userID string) (bool, error) {
	res := s.conn(ctx).Exec("UPDATE users SET mfa_enrolled = ? WHERE id = ? AND mfa_enrolled = ?", true, userID, false)
	return res.RowsAffected == 1, translate(res.Error)
}

func (s *Store) UnmarkSeatHolder(ctx context.Context, userID string) (bool, error) {
	res := s.conn(ctx).Exec("UPDATE users SET mfa_enrolled = ? WHERE id = ? AND mfa_enrolled = ?"+
		" AND NOT EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = ? AND e.status = ?)",
		false, userID, true, userID, string(mfa.EnrollmentActive))
	return res.RowsAffected == 1, translate(res.Error)
}

func (s *Store) TakeLicenseSeat(ctx context.Context, orgID string) (*mfa.License, bool, error) {
	res := s.conn(ctx).Exec("UPDATE licenses SET used = used + 1 WHERE organization_id = ? AND (seats IS NULL OR used < seats)", orgID)
	if res.Error != nil {
		return nil, false, translate(res.Error)
	}
	l, err := s.LicenseOf(ctx, orgID)
	if errors.Is(err, mfa.ErrNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return l, res.RowsAffected == 1, nil
}

func (s *Store) ReleaseLicenseSeat(ctx context.Context, orgID string) (*mfa.License, error) {
	res := s.conn(ctx).Exec("UPDATE licenses SET used = used - 1 WHERE organization_id = ? AND used > 0", orgID)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil
	}
	return s.LicenseOf(ctx, orgID)
}

func (s *Store) SetLicenseAlerts(ctx context.Context, orgID string, a80, a100 bool) error {
	return translate(s.conn(ctx).Exec("UPDATE licenses SET alert80_sent = ?, alert100_sent = ? WHERE organization_id = ?", a80, a100, orgID).Error)
}

func (s *Store) RecordLicenseUsage(ctx context.Context, orgID string, d mfa.LicenseUsageDay) error {
	row := licenseUsageRow{OrganizationID: orgID, Day: d.Date, Used: d.Used, Seats: d.Seats}
	return translate(s.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "organization_id"}, {Name: "day"}},
		DoUpdates: clause.AssignmentColumns([]string{"used", "seats"}),
	}).Create(&row).Error)
}

func (s *Store) LicenseUsageSince(ctx context.Context, orgID, fromDay string) ([]mfa.LicenseUsageDay, error) {
	var before []licenseUsageRow
	if err := s.conn(ctx).Where("organization_id = ? AND day < ?", orgID, fromDay).Order("day DESC").Limit(1).Find(&before).Error; err != nil {
		return nil, translate(err)
	}
	var rows []licenseUsageRow
	if err := s.conn(ctx).Where("organization_id = ? AND day >= ?", orgID, fromDay).Order("day").Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.LicenseUsageDay, 0, len(rows)+1)
	for _, r := range append(before, rows...) {
		out = append(out, mfa.LicenseUsageDay{Date: r.Day, Used: r.Used, Seats: r.Seats})
	}
	return out, nil
}

func (s *Store) SetBillingContact(ctx context.Context, orgID, userID string, on bool) error {
	if !on {
		return translate(s.conn(ctx).Where("user_id = ?", userID).Delete(&billingContactRow{}).Error)
	}
	return translate(s.conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&billingContactRow{UserID: userID, OrganizationID: orgID}).Error)
}

func (s *Store) IsBillingContact(ctx context.Context, userID string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&billingContactRow{}).Where("user_id = ?", userID).Count(&n).Error
	return n > 0, translate(err)
}

func (s *Store) BillingContacts(ctx context.Context, orgID string) ([]mfa.User, error) {
	var rows []user
	err := s.conn(ctx).Where("organization_id = ? AND status = ? AND id IN (SELECT user_id FROM billing_contacts WHERE organization_id = ?)",
		orgID, string(mfa.UserActive), orgID).Order("id").Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.User, len(rows))
	for i := range rows {
		out[i] = *rows[i].toMFA()
	}
	return out, nil
}

func (s *Store) OrganizationsPage(ctx context.Context, p mfa.Page) (*mfa.Paged[mfa.OrganizationWithLicense], error) {
	where, args := []string{"1 = 1"}, []any{}
	out := &mfa.Paged[mfa.OrganizationWithLicense]{}
	if err := s.count(ctx, " FROM organizations", where, args, false, &out.Total, &out.TotalExact); err != nil {
		return nil, err
	}
	ks := keyset{cols: []keyCol{{expr: "slug"}}, idExpr: "id"}
	if p.After != nil {
		cond, a, err := ks.after(p.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	var rows []organization
	if err := s.conn(ctx).Where(strings.Join(where, " AND "), args...).Order(ks.orderBy()).Limit(limitOf(p)).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	if len(rows) > p.Limit {
		rows, out.More = rows[:p.Limit], true
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var lics []licenseRow
	if len(ids) > 0 {
		if err := s.conn(ctx).Where("organization_id IN ?", ids).Find(&lics).Error; err != nil {
			return nil, translate(err)
		}
	}
	byOrg := map[string]*mfa.License{}
	for i := range lics {
		byOrg[lics[i].OrganizationID] = lics[i].toMFA()
	}
	for i := range rows {
		o := *rows[i].toMFA()
		out.Items = append(out.Items, mfa.OrganizationWithLicense{Organization: o, License: byOrg[o.ID]})
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.OrganizationOrderKey, Values: []*string{cursorString(o.Slug)}, ID: o.ID})
	}
	return out, nil
}

func (s *Store) DeleteOrganizationSessions(ctx context.Context, orgID string) error {
	return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE organization_id = ?)", orgID).Error; err != nil {
			return translate(err)
		}
		return translate(tx.Exec("DELETE FROM login_tickets WHERE organization_id = ?", orgID).Error)
	})
}
