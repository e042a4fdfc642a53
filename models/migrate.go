package models

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The schema is versioned: models/migrations/<dialect>/NNNNN_name.sql are
// goose migrations (-- +goose Up / -- +goose Down), embedded in the binary
// and applied in order; the goose_db_version table records which ran. The
// GORM row types (allRows) stay the source of truth for the shape: `make
// migration NAME=...` (scripts/migration) writes the next migration from
// what AutoMigrate would change, and TestMigrationsMatchModels fails when a
// row type changed without one.
//
//go:embed migrations
var migrationFiles embed.FS

// MigrateMode is what Open does about the schema (TWOFOLD_MIGRATE).
type MigrateMode string

const (
	// MigrateAuto applies the pending migrations, one server at a time
	// (the default).
	MigrateAuto MigrateMode = "auto"
	// MigrateWait applies nothing and waits until the schema is at least
	// at the version this binary needs, for clusters where a separate
	// `twofold migrate up` step migrates.
	MigrateWait MigrateMode = "wait"
	// MigrateOff applies nothing and fails at once when the schema is
	// behind this binary.
	MigrateOff MigrateMode = "off"
	// MigrateManual neither applies nor checks: for the `twofold migrate`
	// commands, which look at and change the schema themselves.
	MigrateManual MigrateMode = "manual"
)

// ParseMigrateMode reads TWOFOLD_MIGRATE: auto (or empty), wait or off.
func ParseMigrateMode(v string) (MigrateMode, error) {
	switch m := MigrateMode(strings.ToLower(strings.TrimSpace(v))); m {
	case "":
		return MigrateAuto, nil
	case MigrateAuto, MigrateWait, MigrateOff:
		return m, nil
	}
	return "", fmt.Errorf("must be auto, wait or off, got %q", v)
}

// OpenOption changes what Open does.
type OpenOption func(*openOptions)

type openOptions struct {
	migrate MigrateMode
	// poll is how often MigrateWait looks at the schema version.
	poll time.Duration
}

// WithMigrate sets what Open does about the schema (default MigrateAuto).
func WithMigrate(mode MigrateMode) OpenOption {
	return func(o *openOptions) {
		if mode != "" {
			o.migrate = mode
		}
	}
}

// WithMigrateWaitPoll sets how often MigrateWait looks at the schema
// version (default 1 s).
func WithMigrateWaitPoll(d time.Duration) OpenOption {
	return func(o *openOptions) { o.poll = d }
}

// versionTable is goose's record of the applied migrations.
const versionTable = goose.DefaultTablename

// MigrationStatus is one migration, applied or pending.
type MigrationStatus struct {
	Version   int64
	Name      string // file name, e.g. 00001_baseline.sql
	Applied   bool
	AppliedAt time.Time // zero when pending
}

// ErrSchemaBehind is returned by Open with MigrateOff when the database
// lacks migrations this binary needs.
var ErrSchemaBehind = errors.New("the database schema is older than this binary")

// migrationsFS is the embedded folder of the store's dialect.
func (s *Store) migrationsFS() (fs.FS, error) {
	return fs.Sub(migrationFiles, "migrations/"+s.Dialect())
}

func gooseDialect(name string) goose.Dialect {
	if name == "mysql" {
		return goose.DialectMySQL
	}
	return goose.DialectSQLite3
}

// newProvider is a goose provider over the store's pool and fsys (a folder
// of the dialect's migrations). It takes no lock of its own: callers hold
// withMigrationLock.
func (s *Store) newProvider(fsys fs.FS) (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(gooseDialect(s.Dialect()), sqlDB, fsys, goose.WithDisableGlobalRegistry(true))
}

// LatestMigration is the version of the newest migration this binary has.
func (s *Store) LatestMigration() (int64, error) {
	fsys, err := s.migrationsFS()
	if err != nil {
		return 0, err
	}
	p, err := s.newProvider(fsys)
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, src := range p.ListSources() {
		latest = max(latest, src.Version)
	}
	return latest, nil
}

// SchemaVersion is the newest migration applied to the database (0 for an
// empty one, or one made by a release before versioned migrations), and
// whether the database is such an AutoMigrate-made one. It changes nothing.
func (s *Store) SchemaVersion(ctx context.Context) (version int64, autoMigrated bool, err error) {
	m := s.db.WithContext(ctx).Migrator()
	if !m.HasTable(versionTable) {
		return 0, m.HasTable(&baselineOrganization{}), nil
	}
	var v sql.NullInt64
	if err := s.db.WithContext(ctx).Raw("SELECT MAX(version_id) FROM " + versionTable).Row().Scan(&v); err != nil {
		return 0, false, classify(err)
	}
	return v.Int64, false, nil
}

// MigrationStatus lists every migration of this binary, applied or not.
// It changes nothing.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	fsys, err := s.migrationsFS()
	if err != nil {
		return nil, err
	}
	p, err := s.newProvider(fsys)
	if err != nil {
		return nil, err
	}
	applied := map[int64]time.Time{}
	if s.db.WithContext(ctx).Migrator().HasTable(versionTable) {
		var rows []struct {
			VersionID int64
			Tstamp    time.Time
		}
		if err := s.db.WithContext(ctx).Raw("SELECT version_id, tstamp FROM " + versionTable + " WHERE is_applied").Scan(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			applied[r.VersionID] = r.Tstamp.UTC()
		}
	}
	var out []MigrationStatus
	for _, src := range p.ListSources() {
		at, ok := applied[src.Version]
		out = append(out, MigrationStatus{Version: src.Version, Name: filepath.Base(src.Path), Applied: ok, AppliedAt: at})
	}
	return out, nil
}

// migrate applies every pending migration, under the migration lock, and
// runs the backfills an upgraded database needs. It is Store.Migrate.
func (s *Store) migrate(ctx context.Context) error {
	// What the new columns and tables of an upgraded database must be
	// filled with, decided before the migrations add them.
	backfill := s.listBackfills(ctx)
	// A restart of a server on a migrated database takes no lock.
	if latest, err := s.LatestMigration(); err != nil {
		return err
	} else if v, auto, err := s.SchemaVersion(ctx); err == nil && !auto && v >= latest {
		return backfill(ctx)
	}
	return s.withMigrationLock(ctx, func() error {
		err := retryMigration(ctx, s.applyMigrations)
		if err != nil {
			return err
		}
		return backfill(ctx)
	})
}

// MigrateDownTo rolls the schema back to version (0 drops every table),
// running the Down section of each migration above it, newest first.
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	fsys, err := s.migrationsFS()
	if err != nil {
		return err
	}
	return s.withMigrationLock(ctx, func() error {
		if _, auto, err := s.SchemaVersion(ctx); err != nil {
			return err
		} else if auto {
			return errors.New("the database was made by a release before versioned migrations: run `twofold migrate up` first")
		}
		p, err := s.newProvider(fsys)
		if err != nil {
			return err
		}
		_, err = p.DownTo(ctx, version)
		return err
	})
}

// applyMigrations adopts a database made by AutoMigrate, then applies the
// pending migrations.
func (s *Store) applyMigrations(ctx context.Context) error {
	fsys, err := s.migrationsFS()
	if err != nil {
		return err
	}
	if _, auto, err := s.SchemaVersion(ctx); err != nil {
		return err
	} else if auto {
		if err := s.adoptAutoMigrated(ctx); err != nil {
			return fmt.Errorf("adopt a database made by AutoMigrate: %w", err)
		}
	}
	p, err := s.newProvider(fsys)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		slog.InfoContext(ctx, "migration applied", "migration", filepath.Base(r.Source.Path), "duration", r.Duration)
	}
	return err
}

// adoptAutoMigrated brings a database made by a release before versioned
// migrations (tables, no goose_db_version) to the baseline: what that
// release itself did at every start (AutoMigrate of the row types as they
// were at the baseline, and dropping the audit indexes it had retired), so
// a database of any such release gets there; then it records the baseline
// as applied. The later migrations follow.
func (s *Store) adoptAutoMigrated(ctx context.Context) error {
	slog.InfoContext(ctx, "database made by AutoMigrate: bringing it to the baseline and recording it as migration 1")
	if err := s.migrationDB(ctx).AutoMigrate(baselineRows()...); err != nil {
		return err
	}
	if err := s.dropRetiredAuditIndexes(ctx); err != nil {
		return err
	}
	store, err := database.NewStore(gooseDialect(s.Dialect()), versionTable)
	if err != nil {
		return err
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	// On SQLite the table and its rows appear together; on MySQL the
	// CREATE commits by itself, and another server's (Galera, no shared
	// lock) makes this one fail with 1050 and run again, finding the
	// database no longer AutoMigrate-made.
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := store.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	for _, v := range []int64{0, 1} {
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// migrationDB is the store's connection with the MySQL table options every
// table is created with.
func (s *Store) migrationDB(ctx context.Context) *gorm.DB {
	db := s.db.WithContext(ctx)
	if s.Dialect() == "mysql" {
		db = db.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
	}
	return db
}

// waitForSchema returns when the schema is at least at this binary's
// latest migration, looking every poll; with poll 0 it looks once and
// returns ErrSchemaBehind.
func (s *Store) waitForSchema(ctx context.Context, poll time.Duration) error {
	latest, err := s.LatestMigration()
	if err != nil {
		return err
	}
	logged := false
	for {
		v, _, err := s.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		if v >= latest {
			return nil
		}
		if poll <= 0 {
			return fmt.Errorf("%w: it is at migration %d, this binary needs %d: run `twofold migrate up` (or start with TWOFOLD_MIGRATE=auto)", ErrSchemaBehind, v, latest)
		}
		if !logged {
			slog.InfoContext(ctx, "waiting for the schema to be migrated (TWOFOLD_MIGRATE=wait): run `twofold migrate up`", "version", v, "needed", latest)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for migration %d (the schema is at %d): %w", latest, v, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// retryMigration runs apply again when it failed because another server
// migrating at the same moment got there first. The lock makes that rare
// (it holds across a Galera cluster too, being a replicated row), but the
// version table's creation, or a server whose lock lease ran out, can
// still race: running again re-reads the version table and finds the work
// done.
func retryMigration(ctx context.Context, apply func(context.Context) error) error {
	var err error
	for attempt := 1; attempt <= maxMigrateAttempts; attempt++ {
		if err = apply(ctx); err == nil || !migrationRaced(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * (50*time.Millisecond + rand.N(100*time.Millisecond))):
		}
	}
	return err
}

// maxMigrateAttempts bounds how often a migration that raced another
// server's is run again.
const maxMigrateAttempts = 6

// migrationRaced reports whether err is another server's concurrent
// migration getting there first: table exists (1050), duplicate column
// (1060), duplicate key name (1061), an aborted transaction (1213 and
// friends), or SQLite's "already exists", "duplicate column name" and
// SQLITE_SCHEMA (17).
func migrationRaced(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1050, 1060, 1061:
			return true
		}
	}
	if aborted(err) {
		return true
	}
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) && sqliteErr.Code()&0xff == 17 {
		return true
	}
	// goose's version table is there but not yet its row 0: on MySQL the
	// CREATE commits before the INSERT of another server.
	msg := err.Error()
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "duplicate column name") ||
		strings.Contains(msg, "missing zero version migration")
}

// withMigrationLock runs fn while no other server migrates the database.
// MySQL/MariaDB: goose's lock row (table goose_lock) with a lease kept
// alive while fn runs; a row, unlike GET_LOCK, is one lock across a Galera
// cluster, and a server that dies holding it loses it when the lease ends.
// SQLite: an exclusive flock(2) on DATABASE-migrate.lock beside the
// database file, which the system releases when a process dies.
func (s *Store) withMigrationLock(ctx context.Context, fn func() error) error {
	if s.Dialect() != "mysql" {
		unlock, err := lockFile(ctx, s.sqliteFile(ctx))
		if err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer unlock()
		return fn()
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	locker, err := lock.NewMySQLTableLocker(
		lock.WithTableLockTimeout(migrationLockPoll, uint64(migrationLockWait/migrationLockPoll)),
		lock.WithTableLogger(slog.New(warnOnly{slog.Default().Handler()})),
	)
	if err != nil {
		return err
	}
	if err := lockTableRaced(ctx, func() error { return locker.Lock(ctx, sqlDB) }); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	err = fn()
	if uerr := locker.Unlock(ctx, sqlDB); err == nil && uerr != nil {
		err = fmt.Errorf("migration unlock: %w", uerr)
	}
	return err
}

// lockTableRaced runs lockFn again when creating the lock table raced
// another server's (Galera reports the loser's CREATE as 1050 before the
// winner's table is visible to it).
func lockTableRaced(ctx context.Context, lockFn func() error) error {
	return retryMigration(ctx, func(context.Context) error { return lockFn() })
}

// How long a server waits for another's migration, looking every poll.
const (
	migrationLockPoll = 200 * time.Millisecond
	migrationLockWait = 10 * time.Minute
)

// sqliteFile is the path of the SQLite database file ("" in memory).
func (s *Store) sqliteFile(ctx context.Context) string {
	var rows []struct {
		Name string
		File string
	}
	if err := s.db.WithContext(ctx).Raw("PRAGMA database_list").Scan(&rows).Error; err == nil {
		for _, r := range rows {
			if r.Name == "main" {
				return r.File
			}
		}
	}
	return ""
}

// warnOnly passes on the records of a handler from warnings up: goose's
// lock logs every acquisition at debug and info.
type warnOnly struct{ slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

// PendingSchemaChanges is what the next migration must contain: it applies
// the migrations of fsys (the dialect's folder, read from disk by `make
// migration`) to the empty database at url, then lets GORM AutoMigrate it
// to the row types and returns the statements AutoMigrate executed, none
// when the migrations already make the models' schema. With no migrations
// yet, the row types are the baseline's (migrate_baseline.go). The
// database is left migrated.
func PendingSchemaChanges(ctx context.Context, url string, fsys fs.FS) ([]string, error) {
	db, err := connect(url)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db}
	defer s.Close()
	if v, auto, err := s.SchemaVersion(ctx); err != nil {
		return nil, err
	} else if v != 0 || auto {
		return nil, errors.New("PendingSchemaChanges needs an empty database")
	}
	p, err := s.newProvider(fsys)
	if errors.Is(err, goose.ErrNoMigrations) {
		// The first migration is the baseline: the frozen row types.
		return s.autoMigrateChanges(ctx, baselineRows()...)
	}
	if err != nil {
		return nil, err
	}
	if _, err := p.Up(ctx); err != nil {
		return nil, err
	}
	return s.autoMigrateChanges(ctx, allRows()...)
}

// autoMigrateChanges runs AutoMigrate of rows and returns the statements
// it executed that change the database (reads left out).
func (s *Store) autoMigrateChanges(ctx context.Context, rows ...any) ([]string, error) {
	c := &captureLogger{}
	db := s.migrationDB(ctx).Session(&gorm.Session{Logger: c})
	if err := db.AutoMigrate(rows...); err != nil {
		return nil, err
	}
	return c.statements, nil
}

// captureLogger is a GORM logger that records the statements that change
// the database.
type captureLogger struct {
	mu         sync.Mutex
	statements []string
}

func (c *captureLogger) LogMode(logger.LogLevel) logger.Interface { return c }
func (c *captureLogger) Info(context.Context, string, ...any)     {}
func (c *captureLogger) Warn(context.Context, string, ...any)     {}
func (c *captureLogger) Error(context.Context, string, ...any)    {}

func (c *captureLogger) Trace(_ context.Context, _ time.Time, fc func() (string, int64), err error) {
	stmt, _ := fc()
	stmt = strings.TrimSpace(stmt)
	if err != nil || readOnly(stmt) {
		return
	}
	c.mu.Lock()
	c.statements = append(c.statements, stmt)
	c.mu.Unlock()
}

// readOnly reports whether a statement only reads: a query, or a PRAGMA
// that sets nothing.
func readOnly(stmt string) bool {
	words := strings.Fields(stmt)
	if len(words) == 0 {
		return true
	}
	switch strings.ToUpper(words[0]) {
	case "SELECT", "SHOW", "DESCRIBE", "EXPLAIN", "WITH":
		return true
	case "PRAGMA":
		return !strings.Contains(stmt, "=")
	}
	return false
}
