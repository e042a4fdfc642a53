package models

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// outboxRow is a notification waiting to be sent, sent, or given up.
type outboxRow struct {
	ID             string     `gorm:"primaryKey;size:36"`
	OrganizationID string     `gorm:"size:36;not null;index:ix_outbox_org_created,priority:1"`
	UserID         string     `gorm:"size:36;not null;index:ix_outbox_user"`
	To             string     `gorm:"column:to_address;size:254;not null"`
	Event          string     `gorm:"size:64;not null"`
	Data           string     `gorm:"type:text;not null"`
	Status         string     `gorm:"size:16;not null;index:ix_outbox_due,priority:1"`
	Attempts       int        `gorm:"not null;default:0"`
	NextAttemptAt  time.Time  `gorm:"not null;index:ix_outbox_due,priority:2"`
	LastError      string     `gorm:"size:1024;not null"`
	CreatedAt      time.Time  `gorm:"not null;index:ix_outbox_org_created,priority:2"`
	SentAt         *time.Time ``
}

func (outboxRow) TableName() string { return "outbox" }

func fromNotification(n *mfa.Notification) (*outboxRow, error) {
	data, err := json.Marshal(n.Data)
	if err != nil {
		return nil, err
	}
	return &outboxRow{
		ID: n.ID, OrganizationID: n.OrganizationID, UserID: n.UserID, To: n.To, Event: string(n.Event), Data: string(data),
		Status: string(n.Status), Attempts: n.Attempts, NextAttemptAt: n.NextAttemptAt, LastError: n.LastError,
		CreatedAt: n.CreatedAt, SentAt: n.SentAt,
	}, nil
}

func (r *outboxRow) toMFA() mfa.Notification {
	n := mfa.Notification{
		ID: r.ID, OrganizationID: r.OrganizationID, UserID: r.UserID, To: r.To, Event: mfa.Event(r.Event),
		Status: mfa.NotificationStatus(r.Status), Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(),
		LastError: r.LastError, CreatedAt: r.CreatedAt.UTC(), SentAt: utc(r.SentAt),
	}
	_ = json.Unmarshal([]byte(r.Data), &n.Data)
	return n
}

// EnqueueNotifications inserts the rows in one statement.
func (s *Store) EnqueueNotifications(ctx context.Context, ns []mfa.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	rows := make([]*outboxRow, len(ns))
	for i := range ns {
		r, err := fromNotification(&ns[i])
		if err != nil {
			return err
		}
		rows[i] = r
	}
	return translate(s.conn(ctx).CreateInBatches(rows, 500).Error)
}
