package e2e

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// lockUserRow holds the database so that writes to the user's row wait: on
// MariaDB a locking read of the row in an open transaction, on SQLite the
// write lock of the whole file. The returned function lets go.
func lockUserRow(t *testing.T, dbURL, userID string) func() {
	t.Helper()
	ctx := context.Background()
	var db *sql.DB
	var err error
	if dsn, ok := strings.CutPrefix(dbURL, "mysql://"); ok {
		db, err = sql.Open("mysql", dsn)
	} else {
		var g *gorm.DB
		g, err = gorm.Open(sqlite.Open(strings.TrimPrefix(dbURL, "sqlite://")), &gorm.Config{})
		if err == nil {
			db, err = g.DB()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(dbURL, "mysql://") {
		_, err = conn.ExecContext(ctx, "BEGIN")
		if err == nil {
			var id string
			err = conn.QueryRowContext(ctx, "SELECT id FROM users WHERE id = ? FOR UPDATE", userID).Scan(&id)
		}
	} else {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	}
	if err != nil {
		t.Fatalf("hold the lock: %v", err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			_, _ = conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			db.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// TestRequestDeadline: a request stuck behind a lock is cancelled at the
// server's deadline (TWOFOLD_REQUEST_TIMEOUT) and answers UNAVAILABLE at
// once, and what it was doing leaves no trace once the lock is gone.
func TestRequestDeadline(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		_, kimID := newUser(t, e, admin, "kim", map[string]any{"displayName": "Kim"})
		const timeout = 500 * time.Millisecond
		e.cfg.RequestTimeout = timeout
		slow := e.startServer()
		admin.url = slow.URL

		release := lockUserRow(t, e.cfg.DatabaseURL, kimID)
		for name, call := range map[string]func() response{
			"updateUser": func() response {
				return admin.post(`mutation($id: ID!) { updateUser(input: {userId: $id, displayName: "Changed"}) { user { id } } }`, map[string]any{"id": kimID})
			},
			"login": func() response {
				_, r := e.clientOf(slow).login("demo", "kim", "wrong-password-1")
				return r
			},
		} {
			start := time.Now()
			r := call()
			took := time.Since(start)
			if r.code() != "UNAVAILABLE" {
				t.Errorf("%s behind a lock: %+v, want UNAVAILABLE", name, r.Errors)
			}
			if took > timeout+time.Second {
				t.Errorf("%s answered after %v, the deadline is %v", name, took, timeout)
			}
		}
		release()

		// Nothing of either request happened: the name is unchanged, no
		// failure was counted or audited, and the right password works.
		fresh := e.admin()
		d := fresh.must(`query($id: ID!) { user(id: $id) { displayName status } }`, map[string]any{"id": kimID})
		if dig(d, "user", "displayName") != "Kim" || dig(d, "user", "status") != "ACTIVE" {
			t.Fatalf("after the cancelled requests: %v", d)
		}
		if n := auditCount(t, fresh, "login.failed", map[string]string{"username": "kim"}); n != 0 {
			t.Fatalf("%d failed logins audited", n)
		}
		if n := auditCount(t, fresh, "user.updated", nil); n != 0 {
			t.Fatalf("%d user updates audited", n)
		}
		// A request that is not stuck is not cut short.
		if p, r := e.clientOf(slow).login("demo", "kim", "kim-password-1"); p == nil || p["status"] != "AUTHENTICATED" {
			t.Fatalf("login after the lock: %+v %+v", p, r.Errors)
		}
	})
}
