package models

import (
	"context"
	"sync/atomic"

	"gorm.io/gorm"
)

type counterKey struct{}

// CountStatements returns a context whose SQL statements (through any
// Store) are counted in the returned counter, BEGIN and COMMIT excepted:
// how tests hold the number of statements per request.
func CountStatements(ctx context.Context) (context.Context, *atomic.Int64) {
	n := &atomic.Int64{}
	return context.WithValue(ctx, counterKey{}, n), n
}

// registerCounter counts every statement run with a counting context.
func registerCounter(db *gorm.DB) error {
	count := func(tx *gorm.DB) {
		if tx.Statement == nil || tx.Statement.Context == nil {
			return
		}
		if n, ok := tx.Statement.Context.Value(counterKey{}).(*atomic.Int64); ok {
			n.Add(1)
		}
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("twofold:count", count),
		cb.Query().After("gorm:query").Register("twofold:count", count),
		cb.Update().After("gorm:update").Register("twofold:count", count),
		cb.Delete().After("gorm:delete").Register("twofold:count", count),
		cb.Row().After("gorm:row").Register("twofold:count", count),
		cb.Raw().After("gorm:raw").Register("twofold:count", count),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
