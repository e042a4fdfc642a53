package models

import (
	"context"

	"gorm.io/gorm"
)

// listBackfills looks, before the migration runs, for the derived list data
// it is about to add (the mfa_enrolled flag, the search tokens) and returns
// what fills it in after: nothing when the schema already had them, so a
// restart does not rescan a million users. Migrate calls it around
// AutoMigrate.
func (s *Store) listBackfills(ctx context.Context) func(context.Context) error {
	m := s.db.WithContext(ctx).Migrator()
	if !m.HasTable(&user{}) {
		return func(context.Context) error { return nil } // a new database
	}
	flag := !m.HasColumn(&user{}, "MFAEnrolled")
	tokens := !m.HasTable(&userSearchToken{})
	return func(ctx context.Context) error { return s.backfillLists(ctx, flag, tokens) }
}

// backfillBatch is how many users one backfill statement covers.
const backfillBatch = 1000

// backfillLists sets the mfa_enrolled flag and writes the search tokens of
// every user, a batch of users per transaction. Both are idempotent, so
// servers migrating at once may both run them.
func (s *Store) backfillLists(ctx context.Context, flag, tokens bool) error {
	if flag {
		if err := syncMFAEnrolled(s.conn(ctx), "users.id IN (SELECT e.user_id FROM enrollments e WHERE e.status = ?)", "ACTIVE"); err != nil {
			return err
		}
	}
	if !tokens {
		return nil
	}
	after := ""
	for {
		var ids []string
		if err := s.conn(ctx).Table("users").Where("id > ?", after).Order("id").Limit(backfillBatch).Pluck("id", &ids).Error; err != nil {
			return translate(err)
		}
		if len(ids) == 0 {
			return nil
		}
		err := s.conn(ctx).Transaction(func(tx *gorm.DB) error {
			for _, id := range ids {
				if err := writeSearchTokens(tx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		after = ids[len(ids)-1]
	}
}
