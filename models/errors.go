package models

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
)

// classify wraps an error that says the database cannot be used right now
// (unreachable, restarting, out of connections, busy past its timeout, or
// the pool closed) with mfa.ErrUnavailable, so every operation answers
// UNAVAILABLE, a retryable answer, instead of INTERNAL. Other errors, and
// nil, are returned as they are. The driver's error stays in the chain for
// the log and for errors.As.
func classify(err error) error {
	if err == nil || errors.Is(err, mfa.ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", mfa.ErrUnavailable, err)
}

// MySQL/MariaDB server errors that mean "not now": too many connections,
// shutting down, connection killed, lock wait timeout, deadlock (after the
// store's own retries), Galera node not ready.
var unavailableMySQL = map[uint16]bool{1040: true, 1053: true, 1927: true, 1205: true, 1213: true, 1047: true}

// SQLite primary result codes that mean "not now": SQLITE_BUSY, _LOCKED,
// _INTERRUPT (the request's deadline cancelled the statement), _IOERR,
// _FULL, _CANTOPEN.
var unavailableSQLite = map[int]bool{5: true, 6: true, 9: true, 10: true, 13: true, 14: true}

func unavailable(err error) bool {
	var opErr *net.OpError
	var myErr *mysqldrv.MySQLError
	var sqliteErr interface{ Code() int }
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysqldrv.ErrInvalidConn), errors.Is(err, sql.ErrConnDone),
		errors.As(err, &opErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &myErr):
		return unavailableMySQL[myErr.Number]
	case errors.As(err, &sqliteErr):
		return unavailableSQLite[sqliteErr.Code()&0xff]
	}
	// database/sql's error for a closed pool is not exported.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// classifyErrors makes every statement run through db (queries, creates,
// updates, deletes, raw SQL) report its error through classify. Begin and
// commit are not statements: Store.Transaction classifies their errors.
//
// A write outside a transaction that the database aborted (a Galera
// certification conflict, a deadlock) is run again first, as
// Store.Transaction runs a transaction again: see retryStatement.
func classifyErrors(db *gorm.DB) error {
	hook := func(tx *gorm.DB) {
		if tx.Error != nil {
			tx.Error = classify(tx.Error)
		}
	}
	write := func(tx *gorm.DB) {
		if tx.Error != nil {
			retryStatement(tx)
			tx.Error = classify(tx.Error)
		}
	}
	const name = "twofold:classify_errors"
	cb := db.Callback()
	if cb.Query().Get(name) != nil {
		return nil // registered already
	}
	for _, err := range []error{
		cb.Create().Register(name, write),
		cb.Query().Register(name, hook),
		cb.Update().Register(name, write),
		cb.Delete().Register(name, write),
		cb.Row().Register(name, hook),
		cb.Raw().Register(name, write),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
