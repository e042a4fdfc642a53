// Package modelstest gives tests fresh databases on every engine Twofold
// supports: a temporary SQLite file, and a throwaway database on the MySQL
// or MariaDB server named by TWOFOLD_TEST_MYSQL_DSN (which `make test`
// starts when unset).
package modelstest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Dialects returns the engines to test on: always sqlite, and mysql when a
// server is configured. With TWOFOLD_TEST_REQUIRE_MYSQL=1 a missing server
// fails the test instead of narrowing the run.
//
// TWOFOLD_TEST_DIALECTS (a comma list of sqlite, mysql and galera) names
// the engines instead: `make test` runs the store's contract suite once more
// with galera, on the cluster named by TWOFOLD_TEST_GALERA_DSNS.
func Dialects(t testing.TB) []string {
	if v := os.Getenv("TWOFOLD_TEST_DIALECTS"); v != "" {
		return strings.Split(v, ",")
	}
	if os.Getenv("TWOFOLD_TEST_MYSQL_DSN") != "" {
		return []string{"sqlite", "mysql"}
	}
	if os.Getenv("TWOFOLD_TEST_REQUIRE_MYSQL") == "1" {
		t.Fatal("TWOFOLD_TEST_REQUIRE_MYSQL=1 but TWOFOLD_TEST_MYSQL_DSN is not set")
	}
	t.Log("TWOFOLD_TEST_MYSQL_DSN not set: running on sqlite only (make test starts MariaDB)")
	return []string{"sqlite"}
}

// Each runs fn as a subtest per dialect, each with a fresh database URL.
func Each(t *testing.T, fn func(t *testing.T, url string)) {
	for _, d := range Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, NewURL(t, d)) })
	}
}

// NewURL creates an empty database of the dialect, dropped when the test
// ends, and returns its Twofold database URL.
func NewURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "twofold.db")
	case "mysql":
		return newMySQL(t)
	case "galera":
		return newGalera(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

func newMySQL(t testing.TB) string {
	dsn := os.Getenv("TWOFOLD_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Fatal("TWOFOLD_TEST_MYSQL_DSN is not set")
	}
	return newMySQLOn(t, dsn)
}

// newMySQLOn creates a database on the server of dsn.
func newMySQLOn(t testing.TB, dsn string) string {
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		t.Fatalf("TWOFOLD_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "twofold_t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
	})
	cfg.DBName = name
	return "mysql://" + cfg.FormatDSN()
}

var galeraNode atomic.Int32

// newGalera creates a database on the Galera cluster of
// TWOFOLD_TEST_GALERA_DSNS (DSNs, comma-separated), waits until every node
// has it, and returns its URL on the next node in turn.
func newGalera(t testing.TB) string {
	dsns := strings.Split(os.Getenv("TWOFOLD_TEST_GALERA_DSNS"), ",")
	if dsns[0] == "" {
		t.Fatal("TWOFOLD_TEST_GALERA_DSNS is not set")
	}
	url := newMySQLOn(t, dsns[0]) // created through the first node
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(url, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dsn := range dsns {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", cfg.DBName).Scan(&n); err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("database %s not on %s after 10 s", cfg.DBName, dsn)
			}
		}
		db.Close()
	}
	node, err := mysql.ParseDSN(dsns[int(galeraNode.Add(1))%len(dsns)])
	if err != nil {
		t.Fatal(err)
	}
	node.DBName = cfg.DBName
	return "mysql://" + node.FormatDSN()
}
