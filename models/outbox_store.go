package models

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/notify"
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
	// ClaimedBy is the claim token of the worker holding the row (until
	// NextAttemptAt, its lease); empty when no worker holds it.
	ClaimedBy string `gorm:"size:32;not null;default:''"`
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

var _ notify.Store = (*Store)(nil)

// ClaimNotifications takes up to limit due PENDING rows for token (see
// notify.Store). On MySQL/MariaDB a short transaction reads them with FOR
// UPDATE SKIP LOCKED, so workers on other servers pass over rows being
// claimed instead of waiting, and marks them; on SQLite, whose writers are
// serialized, one conditional UPDATE claims them.
func (s *Store) ClaimNotifications(ctx context.Context, token string, now, leaseUntil time.Time, limit int) ([]mfa.Notification, error) {
	now, leaseUntil = now.UTC(), leaseUntil.UTC()
	claim := map[string]any{"claimed_by": token, "next_attempt_at": leaseUntil, "attempts": gorm.Expr("attempts + 1")}
	if s.db.Dialector.Name() == "mysql" {
		err := s.Transaction(ctx, func(txs mfa.Store) error {
			tx := txs.(*Store).conn(ctx)
			var ids []string
			err := tx.Model(&outboxRow{}).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
				Where("status = ? AND next_attempt_at <= ?", string(mfa.NotificationPending), now).
				Order("next_attempt_at").Limit(limit).Pluck("id", &ids).Error
			if err != nil || len(ids) == 0 {
				return err
			}
			return tx.Model(&outboxRow{}).Where("id IN ?", ids).Updates(claim).Error
		})
		if err != nil {
			return nil, translate(err)
		}
	} else {
		due := s.conn(ctx).Model(&outboxRow{}).Select("id").
			Where("status = ? AND next_attempt_at <= ?", string(mfa.NotificationPending), now).
			Order("next_attempt_at").Limit(limit)
		if err := s.conn(ctx).Model(&outboxRow{}).Where("id IN (?)", due).Updates(claim).Error; err != nil {
			return nil, translate(err)
		}
	}
	var rows []outboxRow
	err := s.conn(ctx).Where("claimed_by = ? AND status = ?", token, string(mfa.NotificationPending)).
		Order("next_attempt_at, id").Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.Notification, len(rows))
	for i := range rows {
		out[i] = rows[i].toMFA()
	}
	return out, nil
}

// FinishNotification writes the outcome of a claimed row (and its data
// when r.Data is set: secrets blanked) if token still holds it; otherwise
// mfa.ErrStale.
func (s *Store) FinishNotification(ctx context.Context, id, token string, r notify.Result) error {
	set := map[string]any{"status": string(r.Status), "last_error": r.LastError, "claimed_by": "", "sent_at": utc(r.SentAt)}
	if r.Status == mfa.NotificationPending {
		set["next_attempt_at"] = r.NextAttemptAt.UTC()
	}
	if r.Data != nil {
		data, err := json.Marshal(r.Data)
		if err != nil {
			return err
		}
		set["data"] = string(data)
	}
	res := s.conn(ctx).Model(&outboxRow{}).
		Where("id = ? AND claimed_by = ? AND status = ?", id, token, string(mfa.NotificationPending)).Updates(set)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return mfa.ErrStale
	}
	return nil
}

// Notifications lists an organization's outbox, newest first, by keyset
// over (created_at, id) on ix_outbox_org_created. The total is counted up
// to mfa.CountCap.
func (s *Store) Notifications(ctx context.Context, q mfa.NotificationQuery) (*mfa.Paged[mfa.Notification], error) {
	db := s.conn(ctx).Model(&outboxRow{}).Where("organization_id = ?", q.OrganizationID)
	f := q.Filter
	if f.Status != "" {
		db = db.Where("status = ?", string(f.Status))
	}
	if f.UserID != "" {
		db = db.Where("user_id = ?", f.UserID)
	}
	if f.Event != "" {
		db = db.Where("event = ?", string(f.Event))
	}
	var total int64
	capped := db.Session(&gorm.Session{}).Select("1").Limit(mfa.CountCap + 1)
	if err := s.conn(ctx).Table("(?) AS c", capped).Count(&total).Error; err != nil {
		return nil, translate(err)
	}
	page := db.Session(&gorm.Session{})
	if a := q.Page.After; a != nil {
		if len(a.Values) != 1 || a.Values[0] == nil {
			return nil, mfa.ErrBadCursor
		}
		at, err := time.Parse(time.RFC3339Nano, *a.Values[0])
		if err != nil {
			return nil, mfa.ErrBadCursor
		}
		at = at.UTC()
		page = page.Where("(created_at < ? OR (created_at = ? AND id < ?))", at, at, a.ID)
	}
	var rows []outboxRow
	if err := page.Order("created_at DESC, id DESC").Limit(q.Page.Limit + 1).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := &mfa.Paged[mfa.Notification]{Total: int(min(total, mfa.CountCap)), TotalExact: total <= mfa.CountCap}
	if len(rows) > q.Page.Limit {
		rows, out.More = rows[:q.Page.Limit], true
	}
	for i := range rows {
		n := rows[i].toMFA()
		at := n.CreatedAt.Format(time.RFC3339Nano)
		out.Items = append(out.Items, n)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.NotificationOrderKey, Values: []*string{&at}, ID: n.ID})
	}
	return out, nil
}
