package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Open connects to the database named by url, which is either
// "sqlite://PATH" (the file and its folder are created) or
// "mysql://user:pass@tcp(host:port)/db" (go-sql-driver DSN after the scheme),
// and brings the schema up to date (see MigrateMode; by default it applies
// the pending migrations).
func Open(ctx context.Context, url string, opts ...OpenOption) (*Store, error) {
	o := openOptions{migrate: MigrateAuto, poll: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := connect(url)
	if err != nil {
		return nil, err
	}
	if err := registerCounter(db); err != nil {
		return nil, err
	}
	if err := classifyErrors(db); err != nil {
		return nil, err
	}
	s := &Store{db: db}
	switch o.migrate {
	case MigrateAuto:
		err = s.Migrate(ctx)
	case MigrateWait:
		err = s.waitForSchema(ctx, o.poll)
	case MigrateOff:
		err = s.waitForSchema(ctx, 0)
	case MigrateManual:
	default:
		err = fmt.Errorf("unknown migrate mode %q", o.migrate)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return s, nil
}

func connect(url string) (*gorm.DB, error) {
	cfg := &gorm.Config{
		Logger:         logger.Default.LogMode(logger.Silent),
		TranslateError: true,
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return nil, errors.New("sqlite:// needs a file path")
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
		}
		// WAL lets readers run beside the writer; busy_timeout waits out
		// another connection's write instead of failing; immediate
		// transactions take the write lock up front, so two transactions
		// never deadlock upgrading a read lock. busy_timeout comes first:
		// switching a new database to WAL needs its lock too, and servers
		// starting at once would otherwise get SQLITE_BUSY.
		dsn := path + "?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		// SQLite parses every statement again unless it is prepared once
		// and reused (a fifth of a verify's CPU in a profile).
		cfg.PrepareStmt = true
		db, err := gorm.Open(sqlite.Open(dsn), cfg)
		if err != nil {
			return nil, err
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		// SQLite has one writer at a time; a small pool lets reads proceed
		// beside it while busy_timeout queues the writers.
		sqlDB.SetMaxOpenConns(4)
		return db, classifyErrors(db)
	case strings.HasPrefix(url, "mysql://"):
		mc, err := mysqldrv.ParseDSN(strings.TrimPrefix(url, "mysql://"))
		if err != nil {
			return nil, fmt.Errorf("mysql DSN: %w", err)
		}
		mc.ParseTime = true
		// Rows affected means rows matched, as on SQLite: an UPDATE that
		// writes the values already there still reports its row, so "0 rows"
		// means only "no row matched the WHERE" on both engines.
		mc.ClientFoundRows = true
		// One round trip per statement instead of prepare, execute, close.
		mc.InterpolateParams = true
		mc.Loc = time.UTC
		if mc.Params == nil {
			mc.Params = map[string]string{}
		}
		mc.Params["time_zone"] = "'+00:00'"
		db, err := gorm.Open(mysql.New(mysql.Config{DSNConfig: mc, DefaultStringSize: 255}), cfg)
		if err != nil {
			return nil, err
		}
		if galera, err := isGalera(db); err != nil {
			closeDB(db)
			return nil, classify(err)
		} else if galera {
			// Causal reads: a read waits until the node has applied every
			// write committed anywhere in the cluster before it began, so a
			// user created through one node can log in through another at
			// once. Single statements outside a transaction that lose a
			// certification conflict are run again by the node itself.
			closeDB(db)
			mc.Params["wsrep_sync_wait"] = "1"
			mc.Params["wsrep_retry_autocommit"] = "8"
			if db, err = gorm.Open(mysql.New(mysql.Config{DSNConfig: mc, DefaultStringSize: 255}), cfg); err != nil {
				return nil, err
			}
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(16)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		return db, classifyErrors(db)
	}
	return nil, errors.New("database URL must start with sqlite:// or mysql://")
}

// Migrate applies the pending migrations (see migrate.go), one server at a
// time, adopting a database made by a release before versioned migrations,
// then fills what an upgraded database's new columns and tables need. It
// is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx)
}

// isGalera reports whether the MySQL server is a Galera cluster node.
func isGalera(db *gorm.DB) (bool, error) {
	var name, value string
	row := db.Raw("SHOW VARIABLES LIKE 'wsrep_on'").Row()
	if err := row.Scan(&name, &value); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil // MySQL without wsrep
		}
		return false, err
	}
	return strings.EqualFold(value, "ON"), nil
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Dialect is "mysql" or "sqlite".
func (s *Store) Dialect() string { return s.db.Dialector.Name() }
