package models

import (
	"context"

	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
)

// bulkBatch is how many rows one bulk INSERT writes.
const bulkBatch = 500

// BulkCreateUsers inserts many users of one organization with their search
// tokens, bulkBatch rows per statement, in one transaction: how tests and
// benchmarks seed tens of thousands of users without an API call each.
func (s *Store) BulkCreateUsers(ctx context.Context, orgID string, users []mfa.User) error {
	var companies []company
	if err := s.conn(ctx).Where("organization_id = ?", orgID).Find(&companies).Error; err != nil {
		return translate(err)
	}
	names := map[string]string{}
	for _, c := range companies {
		names[c.ID] = c.Name
	}
	return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		rows := make([]*user, len(users))
		var tokens []userSearchToken
		for i := range users {
			u := &users[i]
			u.OrganizationID = orgID
			rows[i] = fromUser(u)
			for _, w := range userTokens(u.Username, u.Email, u.DisplayName, names[u.CompanyID]) {
				tokens = append(tokens, userSearchToken{UserID: u.ID, OrganizationID: orgID, Token: w})
			}
		}
		if err := tx.CreateInBatches(rows, bulkBatch).Error; err != nil {
			return translate(err)
		}
		return translate(tx.CreateInBatches(tokens, bulkBatch).Error)
	})
}

// BulkCreateEnrollments inserts many enrollments, bulkBatch rows per
// statement, and sets their users' mfa_enrolled flags, in one transaction.
func (s *Store) BulkCreateEnrollments(ctx context.Context, es []mfa.Enrollment) error {
	return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		rows := make([]*enrollment, len(es))
		ids := make([]string, len(es))
		for i := range es {
			r, err := fromEnrollment(&es[i])
			if err != nil {
				return err
			}
			rows[i], ids[i] = r, es[i].UserID
		}
		if err := tx.CreateInBatches(rows, bulkBatch).Error; err != nil {
			return translate(err)
		}
		for start := 0; start < len(ids); start += bulkBatch {
			if err := syncMFAEnrolled(tx, "users.id IN ?", ids[start:min(start+bulkBatch, len(ids))]); err != nil {
				return err
			}
		}
		return nil
	})
}
