// Command migration writes the next schema migration of each dialect from
// the GORM row types: `make migration NAME=add_something` runs it.
//
// For each dialect it applies the migrations already in
// models/migrations/<dialect>/ to a scratch database (a temporary SQLite
// file; a throwaway database on the MariaDB of TWOFOLD_TEST_MYSQL_DSN,
// default root@tcp(127.0.0.1:3306)/), lets GORM AutoMigrate it to the row
// types, and writes the statements AutoMigrate executed as
// NNNNN_NAME.sql, with a Down section that undoes them (newest first).
// With nothing to change it writes nothing. Review the files before
// committing them: data changes and unusual statements need a hand.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/twofoldauth/twofold/models"
)

func main() {
	name := flag.String("name", "", "the migration's name, e.g. add_user_locale (letters, digits, _)")
	dir := flag.String("dir", "models/migrations", "the migrations folder (one subfolder per dialect)")
	dialects := flag.String("dialects", "sqlite,mysql", "the dialects to write a migration for")
	flag.Parse()
	if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(*name) || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: make migration NAME=add_something (lower-case letters, digits and _)")
		os.Exit(2)
	}
	failed := false
	for _, d := range strings.Split(*dialects, ",") {
		if err := generate(context.Background(), d, filepath.Join(*dir, d), *name); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", d, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func generate(ctx context.Context, dialect, dir, name string) error {
	url, drop, err := scratch(dialect)
	if err != nil {
		return err
	}
	defer drop()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fsys := os.DirFS(dir)
	stmts, err := models.PendingSchemaChanges(ctx, url, fsys)
	if err != nil {
		return err
	}
	if len(stmts) == 0 {
		fmt.Printf("%s: the migrations already make the models' schema; nothing written\n", dialect)
		return nil
	}
	next, err := nextVersion(fsys)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("%05d_%s.sql", next, name))
	text, manual := render(dialect, name, stmts)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: wrote %s (%d statements)\n", dialect, path, len(stmts))
	for _, s := range manual {
		fmt.Printf("%s: write the Down of this statement by hand in %s:\n  %s\n", dialect, path, s)
	}
	return nil
}

// nextVersion is one past the newest migration of fsys.
func nextVersion(fsys fs.FS) (int64, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return 0, err
	}
	var last int64
	for _, f := range files {
		v, err := goose.NumericComponent(f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		last = max(last, v)
	}
	return last + 1, nil
}

var (
	createTable = regexp.MustCompile("(?i)^CREATE TABLE (?:IF NOT EXISTS )?(`[^`]+`|\\w+)")
	createIndex = regexp.MustCompile("(?i)^CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?(`[^`]+`|\\w+) ON (`[^`]+`|\\w+)")
	addColumn   = regexp.MustCompile("(?i)^ALTER TABLE (`[^`]+`|\\w+) ADD (?:COLUMN )?(`[^`]+`|\\w+)")
)

// render writes the migration file; manual lists the statements whose
// reverse it could not tell.
func render(dialect, name string, stmts []string) (string, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "-- Written by `make migration NAME=%s` from the GORM row types (models/):\n", name)
	b.WriteString("-- the statements GORM AutoMigrate ran on a database at the previous migration\n-- (on an empty one for the first, the baseline).\n")
	b.WriteString("-- Reviewed and committed with the model change; never edited once released.\n\n")
	b.WriteString("-- +goose Up\n")
	for _, s := range stmts {
		writeStatement(&b, rerunnable(dialect, s))
	}
	b.WriteString("\n-- +goose Down\n")
	var manual []string
	for _, s := range slices.Backward(stmts) {
		switch {
		case createTable.MatchString(s):
			writeStatement(&b, "DROP TABLE "+createTable.FindStringSubmatch(s)[1])
		case createIndex.MatchString(s):
			m := createIndex.FindStringSubmatch(s)
			if dialect == "mysql" {
				writeStatement(&b, "DROP INDEX "+m[1]+" ON "+m[2])
			} else {
				writeStatement(&b, "DROP INDEX "+m[1])
			}
		case addColumn.MatchString(s):
			m := addColumn.FindStringSubmatch(s)
			writeStatement(&b, "ALTER TABLE "+m[1]+" DROP COLUMN "+m[2])
		default:
			manual = append(manual, s)
			fmt.Fprintf(&b, "-- TODO: undo %s\n", strconv.Quote(s))
		}
	}
	return b.String(), manual
}

// rerunnable makes a statement that creates a table (or, on SQLite, an
// index) do nothing when it exists already, so a migration cut short (MySQL
// commits each DDL statement by itself) can be run again. MySQL 8 has no IF
// NOT EXISTS for indexes and columns, so those stay as they are there.
func rerunnable(dialect, s string) string {
	if m := createTable.FindStringSubmatchIndex(s); m != nil && !strings.Contains(strings.ToUpper(s[:m[1]]), "IF NOT EXISTS") {
		return "CREATE TABLE IF NOT EXISTS " + s[len("CREATE TABLE "):]
	}
	if dialect == "sqlite" && createIndex.MatchString(s) && !strings.Contains(strings.ToUpper(s), "IF NOT EXISTS") {
		i := strings.Index(strings.ToUpper(s), "INDEX ") + len("INDEX ")
		return s[:i] + "IF NOT EXISTS " + s[i:]
	}
	return s
}

// writeStatement writes one statement; one with a semicolon inside is
// marked so goose does not split it there.
func writeStatement(b *strings.Builder, s string) {
	if strings.Contains(s, ";") {
		b.WriteString("-- +goose StatementBegin\n" + s + ";\n-- +goose StatementEnd\n")
		return
	}
	b.WriteString(s + ";\n")
}

// scratch makes an empty database of the dialect and returns its URL and
// what drops it.
func scratch(dialect string) (string, func(), error) {
	switch dialect {
	case "sqlite":
		dir, err := os.MkdirTemp("", "twofold-migration-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite://" + filepath.Join(dir, "scratch.db"), func() { os.RemoveAll(dir) }, nil
	case "mysql":
		dsn := os.Getenv("TWOFOLD_TEST_MYSQL_DSN")
		if dsn == "" {
			dsn = "root@tcp(127.0.0.1:3306)/"
		}
		cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
		if err != nil {
			return "", nil, fmt.Errorf("TWOFOLD_TEST_MYSQL_DSN: %w", err)
		}
		cfg.DBName = ""
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return "", nil, err
		}
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		db := "twofold_migration_" + hex.EncodeToString(b)
		if _, err := admin.Exec("CREATE DATABASE " + db + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
			admin.Close()
			return "", nil, fmt.Errorf("a scratch database on %s (set TWOFOLD_TEST_MYSQL_DSN; `make test` starts a MariaDB): %w", cfg.Addr, err)
		}
		cfg.DBName = db
		return "mysql://" + cfg.FormatDSN(), func() {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + db)
			admin.Close()
		}, nil
	}
	return "", nil, fmt.Errorf("unknown dialect %q (sqlite or mysql)", dialect)
}
