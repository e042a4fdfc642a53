package models

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

var _ mfa.AuditArchiveStore = (*Store)(nil)

// AuditEventsInRange reads by keyset over (created_at, id): each page is one
// range of ix_audit_org_time (one organization) or ix_audit_time (all),
// however deep into the log it is.
func (s *Store) AuditEventsInRange(ctx context.Context, q mfa.AuditRange, after mfa.AuditKey, limit int) ([]mfa.AuditEvent, error) {
	db := s.conn(ctx).Model(&auditEvent{})
	if q.OrganizationID != "" {
		db = db.Where("organization_id = ?", q.OrganizationID)
	}
	db = db.Where("created_at >= ? AND created_at < ?", q.From, q.To)
	if after.ID != "" {
		db = db.Where("(created_at > ? OR (created_at = ? AND id > ?))", after.CreatedAt, after.CreatedAt, after.ID)
	}
	var rows []auditEvent
	if err := db.Order("created_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]mfa.AuditEvent, len(rows))
	for i := range rows {
		out[i] = rows[i].toMFA()
	}
	return out, nil
}

// DeleteAuditEventsBefore deletes one batch in its own short transaction:
// the ids of the oldest events first, then those rows by primary key, a
// statement every engine (and Galera's write-set limits) handles alike.
func (s *Store) DeleteAuditEventsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := s.Transaction(ctx, func(tx mfa.Store) error {
		db := tx.(*Store).conn(ctx)
		var ids []string
		if err := db.Model(&auditEvent{}).Where("created_at < ?", cutoff).Order("created_at, id").Limit(limit).Pluck("id", &ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			n = 0
			return nil
		}
		res := db.Where("id IN ?", ids).Delete(&auditEvent{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

func (r *auditEvent) toMFA() mfa.AuditEvent {
	e := mfa.AuditEvent{
		ID: r.ID, OrganizationID: r.OrganizationID, ActorID: r.ActorID, SubjectID: r.SubjectID,
		Action: mfa.AuditAction(r.Action), IP: r.IP, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.Details != "" {
		_ = json.Unmarshal([]byte(r.Details), &e.Details)
	}
	return e
}

// retiredAuditIndexes were replaced by the composite indexes on auditEvent:
// (organization_id, created_at) by (organization_id, created_at, id), and
// the single-column actor and subject indexes by (organization_id, actor_id
// | subject_id, created_at, id), so that a page of a busy actor's events is
// one index range in time order.
var retiredAuditIndexes = []string{"ix_audit_org_time", "ix_audit_actor", "ix_audit_subject"}

// dropRetiredAuditIndexes drops them where an older schema has them; a
// server that finds one gone (another dropped it) carries on.
func (s *Store) dropRetiredAuditIndexes(ctx context.Context) error {
	m := s.db.WithContext(ctx).Migrator()
	for _, name := range retiredAuditIndexes {
		if m.HasIndex(&auditEvent{}, name) {
			if err := m.DropIndex(&auditEvent{}, name); err != nil && m.HasIndex(&auditEvent{}, name) {
				return err
			}
		}
	}
	return nil
}
