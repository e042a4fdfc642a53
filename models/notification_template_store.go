package models

import (
	"context"
	"time"

	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
)

// notificationTemplate is an organization's overrides of one event's mail
// and its on/off switch.
type notificationTemplate struct {
	OrganizationID string    `gorm:"primaryKey;size:36"`
	Event          string    `gorm:"primaryKey;size:64"`
	Subject        string    `gorm:"type:mediumtext;not null"`
	TextPart       string    `gorm:"type:mediumtext;not null"`
	HTMLPart       string    `gorm:"column:html_part;type:mediumtext;not null"`
	Enabled        bool      `gorm:"not null"`
	UpdatedBy      string    `gorm:"size:36;not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

func (notificationTemplate) TableName() string { return "notification_templates" }

func (r *notificationTemplate) toMFA() mfa.NotificationTemplate {
	return mfa.NotificationTemplate{
		OrganizationID: r.OrganizationID, Event: mfa.Event(r.Event), Subject: r.Subject, Text: r.TextPart, HTML: r.HTMLPart,
		Enabled: r.Enabled, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// NotificationTemplate returns the organization's setting for ev.
func (s *Store) NotificationTemplate(ctx context.Context, orgID string, ev mfa.Event) (*mfa.NotificationTemplate, error) {
	var r notificationTemplate
	if err := first(s.conn(ctx), &r, "organization_id = ? AND event = ?", orgID, string(ev)); err != nil {
		return nil, err
	}
	t := r.toMFA()
	return &t, nil
}

// NotificationTemplates returns every setting of the organization.
func (s *Store) NotificationTemplates(ctx context.Context, orgID string) ([]mfa.NotificationTemplate, error) {
	var rows []notificationTemplate
	if err := s.conn(ctx).Where("organization_id = ?", orgID).Order("event").Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.NotificationTemplate, len(rows))
	for i := range rows {
		out[i] = rows[i].toMFA()
	}
	return out, nil
}

// SaveNotificationTemplate inserts or replaces t.
func (s *Store) SaveNotificationTemplate(ctx context.Context, t *mfa.NotificationTemplate) error {
	r := notificationTemplate{
		OrganizationID: t.OrganizationID, Event: string(t.Event), Subject: t.Subject, TextPart: t.Text, HTMLPart: t.HTML,
		Enabled: t.Enabled, UpdatedBy: t.UpdatedBy, UpdatedAt: t.UpdatedAt.UTC(),
	}
	return translate(s.conn(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&r).Error)
}
