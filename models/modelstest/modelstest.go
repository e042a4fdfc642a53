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
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Dialects returns the engines to test on: always sqlite, and mysql when a
// server is configured. With TWOFOLD_TEST_REQUIRE_MYSQL=1 a missing server
// fails the test instead of narrowing the run.
func Dialects(t testing.TB) []string {
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
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

func newMySQL(t testing.TB) string {
	dsn := os.Getenv("TWOFOLD_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Fatal("TWOFOLD_TEST_MYSQL_DSN is not set")
	}
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
