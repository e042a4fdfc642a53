package models

import (
	"context"
	"slices"
	"time"
)

// SealKeyIDs returns, sorted, the distinct ids of the keys that sealed the
// data still in use: every enrollment's state, and the challenges of login
// tickets that are neither consumed nor expired at now.
func (s *Store) SealKeyIDs(ctx context.Context, now time.Time) ([]string, error) {
	var ids, challenges []string
	db := s.conn(ctx)
	if err := db.Model(&enrollment{}).Where("key_id <> ''").Distinct().Pluck("key_id", &ids).Error; err != nil {
		return nil, translate(err)
	}
	if err := db.Model(&loginTicket{}).Where("challenge_key_id <> '' AND consumed_at IS NULL AND expires_at > ?", now).
		Distinct().Pluck("challenge_key_id", &challenges).Error; err != nil {
		return nil, translate(err)
	}
	ids = append(ids, challenges...)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
