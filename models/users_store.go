package models

import (
	"context"
	"slices"
	"strings"

	"gorm.io/gorm/clause"

	"github.com/twofoldauth/twofold/mfa"
)

// LockActiveManagers returns the ids of the organization's active users who
// hold MANAGE_ORGANIZATION. On MariaDB it is a locking read (FOR UPDATE): it
// sees the latest committed rows and holds them until the transaction ends,
// so two transactions deciding about the last manager run one after the
// other. SQLite transactions already take the write lock at BEGIN.
func (s *Store) LockActiveManagers(ctx context.Context, orgID string) ([]string, error) {
	var rows []user
	err := s.conn(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "permissions").
		Where("organization_id = ? AND status = ? AND permissions LIKE ?", orgID, string(mfa.UserActive), "%"+string(mfa.PermissionManageOrganization)+"%").
		Order("id").Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	var ids []string
	for _, r := range rows {
		// LIKE narrowed the scan; the comma list decides.
		if slices.Contains(strings.Split(r.Permissions, ","), string(mfa.PermissionManageOrganization)) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}
