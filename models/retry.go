package models

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// maxTxAttempts bounds how often an aborted transaction is run. Ten
// attempts with the back-off below span about a second: enough for a burst
// of logins of one user spread over three Galera nodes (measured: 1 in 100
// needed 8 attempts while the cluster replaced a lost node).
const maxTxAttempts = 10

// retryAborted runs fn again while the database aborts it as a deadlock or
// serialization failure, with a short randomised back-off.
func retryAborted(ctx context.Context, fn func() error) error {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !aborted(err) || attempt == maxTxAttempts {
			// Begin and commit are not statements, so their errors (a
			// refused connection, a node that left the cluster) are
			// classified here; a statement's error already is.
			return classify(err)
		}
		select {
		case <-ctx.Done():
			return classify(err)
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
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
		// SQLSTATE 40001, serialization failure, whatever the number
		// (TiDB's write conflict, for one).
		return string(me.SQLState[:]) == "40001"
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// retryStatement runs a write that the database aborted again, when it ran
// on its own (autocommit, or GORM's implicit transaction around one
// statement, already rolled back): on Galera a single UPDATE of a row that
// another node changed at the same moment fails with 1213 just as a
// transaction does, and the server's own wsrep_retry_autocommit does not
// cover every abort. Inside a transaction nothing is retried here: the
// whole transaction is (Store.Transaction). A create that fills an
// auto-increment key is not retried either (the key would not be read).
func retryStatement(tx *gorm.DB) {
	st := tx.Statement
	if !aborted(tx.Error) || st.SQL.Len() == 0 || st.ConnPool == nil {
		return
	}
	if _, inTx := st.ConnPool.(gorm.TxCommitter); inTx {
		return
	}
	if st.Schema != nil && st.Schema.PrioritizedPrimaryField != nil && st.Schema.PrioritizedPrimaryField.AutoIncrement {
		return
	}
	ctx := st.Context
	if ctx == nil {
		ctx = context.Background()
	}
	query, vars := st.SQL.String(), st.Vars
	first := true
	err := retryAborted(ctx, func() error {
		if first { // the statement ran once already
			first = false
			return tx.Error
		}
		res, err := st.ConnPool.ExecContext(ctx, query, vars...)
		if err == nil {
			tx.RowsAffected, _ = res.RowsAffected()
		}
		return err
	})
	tx.Error = err
}
