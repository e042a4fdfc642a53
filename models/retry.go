package models

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// maxTxAttempts bounds how often an aborted transaction is run.
const maxTxAttempts = 8

// retryAborted runs fn again while the database aborts it as a deadlock or
// serialization failure, with a short randomised back-off.
func retryAborted(ctx context.Context, fn func() error) error {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !aborted(err) || attempt == maxTxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// aborted reports whether err is the database aborting a transaction that
// can simply be run again: InnoDB deadlock (1213) and lock wait timeout
// (1205), Galera's certification failure (1213 too) and "WSREP has not yet
// prepared node" (1047), SQLite's busy and locked results.
func aborted(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1213, 1205, 1047:
			return true
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}
