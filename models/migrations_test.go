package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/twofoldauth/twofold/models/modelstest"
)

// The migrations make exactly the models' schema: applied to an empty
// database, they leave AutoMigrate of the row types nothing to do, and the
// baseline alone leaves AutoMigrate of the frozen baseline types nothing to
// do.
func TestMigrationsMatchModels(t *testing.T) {
	ctx := context.Background()
	modelstest.Each(t, func(t *testing.T, url string) {
		s := openManual(t, url)
		fsys, err := s.migrationsFS()
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.newProvider(fsys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 1); err != nil {
			t.Fatalf("baseline: %v", err)
		}
		if ddl, err := s.autoMigrateChanges(ctx, baselineRows()...); err != nil || len(ddl) > 0 {
			t.Fatalf("00001_baseline.sql differs from the frozen baseline row types (migrate_baseline.go) (err %v):\n%s", err, strings.Join(ddl, "\n"))
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("migrations: %v", err)
		}
		ddl, err := s.autoMigrateChanges(ctx, allRows()...)
		if err != nil {
			t.Fatal(err)
		}
		if len(ddl) > 0 {
			t.Fatalf("models changed without a migration: run make migration NAME=... (then review and commit models/migrations/); AutoMigrate still ran:\n%s", strings.Join(ddl, "\n"))
		}
	})
}

// Migrating an empty database gives the schema AutoMigrate gives it:
// the same columns (type, nullability, default) and indexes.
func TestMigratedSchemaEqualsAutoMigrated(t *testing.T) {
	ctx := context.Background()
	for _, d := range modelstest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			migrated := openStore(t, modelstest.NewURL(t, d))
			auto := openManual(t, modelstest.NewURL(t, d))
			if err := auto.migrationDB(ctx).AutoMigrate(allRows()...); err != nil {
				t.Fatal(err)
			}
			want, got := schemaOf(t, auto), schemaOf(t, migrated)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("migrated schema differs from AutoMigrate's (-auto +migrated):\n%s", diff)
			}
		})
	}
}

// A database made by a release before versioned migrations (AutoMigrate at
// every start, no goose_db_version) is adopted: brought to the baseline,
// recorded at migration 1, migrated to the latest; its rows survive, and
// what an older release lacked (the search tokens, the mfa_enrolled flag)
// is added and filled.
func TestMigrateUpgradesAutoMigratedDatabase(t *testing.T) {
	ctx := context.Background()
	modelstest.Each(t, func(t *testing.T, url string) {
		old := openManual(t, url)
		if err := old.migrationDB(ctx).AutoMigrate(baselineRows()...); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		must(t, old.db.Create(&baselineOrganization{ID: "org-1", Slug: "acme", Name: "Acme", CreatedAt: now}).Error)
		must(t, old.db.Create(&baselineUser{ID: "user-1", OrganizationID: "org-1", Username: "ann", Email: "ann@example.com", DisplayName: "Ann Lee",
			UserType: "EMPLOYEE", Status: "ACTIVE", CreatedAt: now, UpdatedAt: now}).Error)
		must(t, old.db.Create(&baselineEnrollment{ID: "enr-1", UserID: "user-1", FactorType: "totp", Label: "phone", Status: "ACTIVE", KeyID: "k", CreatedBy: "user-1", CreatedAt: now}).Error)
		// An older release still: no search tokens, no mfa_enrolled flag.
		m := old.db.Migrator()
		must(t, m.DropTable("user_search_tokens"))
		for _, ix := range []string{"ix_users_org_enrolled", "ix_users_org_status"} {
			must(t, m.DropIndex("users", ix))
		}
		must(t, m.DropColumn(&baselineUser{}, "mfa_enrolled"))
		if v, auto, err := old.SchemaVersion(ctx); err != nil || v != 0 || !auto {
			t.Fatalf("before: version %d, autoMigrated %v, %v", v, auto, err)
		}
		old.Close()

		s := openStore(t, url)
		assertAtLatest(t, s)
		var applied []int64
		must(t, s.db.Raw("SELECT version_id FROM "+versionTable+" ORDER BY version_id").Scan(&applied).Error)
		if latest, _ := s.LatestMigration(); len(applied) != int(latest)+1 || applied[1] != 1 {
			t.Fatalf("versions recorded %v, want 0, 1 (adopted) .. %d", applied, latest)
		}
		var org organization
		must(t, s.db.First(&org, "id = ?", "org-1").Error)
		var u user
		must(t, s.db.First(&u, "id = ?", "user-1").Error)
		if org.Slug != "acme" || u.Username != "ann" || !u.MFAEnrolled {
			t.Fatalf("after: org %+v, user %+v (mfa_enrolled must be filled)", org, u)
		}
		var tokens []string
		must(t, s.db.Table("user_search_tokens").Where("user_id = ?", "user-1").Order("token").Pluck("token", &tokens).Error)
		if !slices.Contains(tokens, "ann") || !slices.Contains(tokens, "lee") {
			t.Fatalf("search tokens not filled: %v", tokens)
		}
		if ddl, err := s.autoMigrateChanges(ctx, allRows()...); err != nil || len(ddl) > 0 {
			t.Fatalf("adopted schema differs from the models (err %v):\n%s", err, strings.Join(ddl, "\n"))
		}
	})
}

// Six servers starting at once on an empty database, and on one made by
// AutoMigrate, all start; the schema is at the latest migration once. On
// Galera they start through the three nodes in turn (GET_LOCK would not
// hold across them; the lock row does).
func TestMigrateConcurrentOpens(t *testing.T) {
	ctx := context.Background()
	for _, start := range []string{"empty", "autoMigrated"} {
		t.Run(start, func(t *testing.T) {
			modelstest.Each(t, func(t *testing.T, url string) {
				if start == "autoMigrated" {
					old := openManual(t, url)
					must(t, old.migrationDB(ctx).AutoMigrate(baselineRows()...))
					old.Close()
				}
				const n = 6
				stores := make([]*Store, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { stores[i], errs[i] = Open(ctx, onNode(t, url, i)) })
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("server %d: %v", i, err)
					} else {
						stores[i].Close()
					}
				}
				if t.Failed() {
					return
				}
				s := openManual(t, url)
				assertAtLatest(t, s)
				var rows []int64
				must(t, s.db.Raw("SELECT version_id FROM "+versionTable+" ORDER BY id").Scan(&rows).Error)
				if latest, _ := s.LatestMigration(); len(rows) != int(latest)+1 {
					t.Fatalf("version rows %v: a migration ran twice or not at all", rows)
				}
				if ddl, err := s.autoMigrateChanges(ctx, allRows()...); err != nil || len(ddl) > 0 {
					t.Fatalf("schema differs from the models (err %v):\n%s", err, strings.Join(ddl, "\n"))
				}
			})
		})
	}
}

// down-to 0 drops every table; up again rebuilds the same schema.
func TestMigrateDownToAndUpAgain(t *testing.T) {
	ctx := context.Background()
	modelstest.Each(t, func(t *testing.T, url string) {
		s := openStore(t, url)
		before := schemaOf(t, s)
		latest, err := s.LatestMigration()
		if err != nil {
			t.Fatal(err)
		}
		if latest > 1 {
			must(t, s.MigrateDownTo(ctx, latest-1))
			if v, _, _ := s.SchemaVersion(ctx); v != latest-1 {
				t.Fatalf("after down-to %d: version %d", latest-1, v)
			}
		}
		must(t, s.MigrateDownTo(ctx, 0))
		if v, _, _ := s.SchemaVersion(ctx); v != 0 {
			t.Fatalf("after down-to 0: version %d", v)
		}
		if left := schemaOf(t, s); len(left) != 0 {
			t.Fatalf("after down-to 0, tables left: %v", keys(left))
		}
		st, err := s.MigrationStatus(ctx)
		if err != nil || len(st) != int(latest) || st[0].Applied {
			t.Fatalf("status after down-to 0: %+v %v", st, err)
		}
		must(t, s.Migrate(ctx))
		assertAtLatest(t, s)
		if diff := cmp.Diff(before, schemaOf(t, s)); diff != "" {
			t.Fatalf("schema after down and up differs (-before +after):\n%s", diff)
		}
		st, err = s.MigrationStatus(ctx)
		if err != nil || !st[len(st)-1].Applied || st[0].Name != "00001_baseline.sql" || st[0].AppliedAt.IsZero() {
			t.Fatalf("status after up: %+v %v", st, err)
		}
	})
}

// TWOFOLD_MIGRATE=off refuses a database behind the binary; =wait waits
// for another process to migrate it; a database ahead of the binary (a
// newer release migrated it during a rolling upgrade) is accepted.
func TestMigrateModes(t *testing.T) {
	ctx := context.Background()
	modelstest.Each(t, func(t *testing.T, url string) {
		if _, err := Open(ctx, url, WithMigrate(MigrateOff)); !errors.Is(err, ErrSchemaBehind) {
			t.Fatalf("off on an empty database: %v, want ErrSchemaBehind", err)
		}
		waited := make(chan error, 1)
		go func() {
			s, err := Open(ctx, url, WithMigrate(MigrateWait), WithMigrateWaitPoll(10*time.Millisecond))
			if err == nil {
				s.Close()
			}
			waited <- err
		}()
		select {
		case err := <-waited:
			t.Fatalf("wait returned before the schema was migrated: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		s := openStore(t, url) // the `twofold migrate up` step
		if err := <-waited; err != nil {
			t.Fatalf("wait: %v", err)
		}
		latest, _ := s.LatestMigration()
		must(t, s.db.Exec("INSERT INTO "+versionTable+" (version_id, is_applied) VALUES (?, ?)", latest+1, true).Error)
		for _, mode := range []MigrateMode{MigrateAuto, MigrateOff, MigrateWait} {
			s2, err := Open(ctx, url, WithMigrate(mode))
			if err != nil {
				t.Fatalf("%s on a database ahead of the binary: %v", mode, err)
			}
			s2.Close()
		}
	})
	if _, err := ParseMigrateMode("sometimes"); err == nil {
		t.Fatal("ParseMigrateMode accepted sometimes")
	}
	if m, err := ParseMigrateMode(""); m != MigrateAuto || err != nil {
		t.Fatalf("empty TWOFOLD_MIGRATE: %v %v", m, err)
	}
}

// The embedded folders hold the same migrations for both dialects.
func TestMigrationsSameVersionsPerDialect(t *testing.T) {
	names := map[string][]string{}
	for _, d := range []string{"mysql", "sqlite"} {
		files, err := fs.Glob(migrationFiles, "migrations/"+d+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			names[d] = append(names[d], strings.TrimPrefix(f, "migrations/"+d+"/"))
		}
	}
	if len(names["mysql"]) == 0 || !slices.Equal(names["mysql"], names["sqlite"]) {
		t.Fatalf("migrations differ between dialects: mysql %v, sqlite %v", names["mysql"], names["sqlite"])
	}
}

func openStore(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openManual(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, WithMigrate(MigrateManual))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func assertAtLatest(t *testing.T, s *Store) {
	t.Helper()
	latest, err := s.LatestMigration()
	if err != nil {
		t.Fatal(err)
	}
	if v, auto, err := s.SchemaVersion(context.Background()); err != nil || v != latest || auto {
		t.Fatalf("schema at %d (autoMigrated %v, %v), want the latest %d", v, auto, err, latest)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// schemaOf describes every table but goose's: its columns (name, type,
// nullability, default) and indexes (name, uniqueness, columns), each
// sorted by name, so the order columns were added in does not count.
func schemaOf(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	db := s.db
	out := map[string][]string{}
	var tables []string
	if s.Dialect() == "mysql" {
		must(t, db.Raw("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables).Error)
	} else {
		must(t, db.Raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").Scan(&tables).Error)
	}
	for _, table := range tables {
		if strings.HasPrefix(table, "goose_") {
			continue
		}
		var desc []string
		if s.Dialect() == "mysql" {
			var cols []struct {
				ColumnName, ColumnType, IsNullable, Extra string
				ColumnDefault                             *string
			}
			must(t, db.Raw("SELECT column_name, column_type, is_nullable, column_default, extra FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?", table).Scan(&cols).Error)
			for _, c := range cols {
				desc = append(desc, fmt.Sprintf("column %s %s null=%s default=%v %s", c.ColumnName, c.ColumnType, c.IsNullable, deref(c.ColumnDefault), c.Extra))
			}
			var ixs []struct {
				IndexName string
				NonUnique int
				Cols      string
			}
			must(t, db.Raw("SELECT index_name, non_unique, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS cols FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? GROUP BY index_name, non_unique", table).Scan(&ixs).Error)
			for _, ix := range ixs {
				desc = append(desc, fmt.Sprintf("index %s unique=%v (%s)", ix.IndexName, ix.NonUnique == 0, ix.Cols))
			}
		} else {
			var cols []struct {
				Name      string
				Type      string
				NotNull   int
				DfltValue *string
				PK        int
			}
			must(t, db.Raw("SELECT name, type, \"notnull\" AS not_null, dflt_value, pk FROM pragma_table_info(?)", table).Scan(&cols).Error)
			for _, c := range cols {
				desc = append(desc, fmt.Sprintf("column %s %s notnull=%d default=%v pk=%d", c.Name, c.Type, c.NotNull, deref(c.DfltValue), c.PK))
			}
			var ixs []struct {
				Name   string
				Unique int
			}
			must(t, db.Raw("SELECT name, \"unique\" FROM pragma_index_list(?)", table).Scan(&ixs).Error)
			for _, ix := range ixs {
				var cols []string
				must(t, db.Raw("SELECT name FROM pragma_index_info(?) ORDER BY seqno", ix.Name).Scan(&cols).Error)
				desc = append(desc, fmt.Sprintf("index %s unique=%d (%s)", ix.Name, ix.Unique, strings.Join(cols, ",")))
			}
		}
		slices.Sort(desc)
		out[table] = desc
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return "NULL"
	}
	return *p
}

// A migration cut short after some of its statements (MySQL commits each
// DDL statement by itself; a server killed mid-migration) runs again whole:
// its CREATE TABLE statements skip the tables already there.
func TestMigrationCutShortRunsAgain(t *testing.T) {
	ctx := context.Background()
	modelstest.Each(t, func(t *testing.T, url string) {
		s := openManual(t, url)
		fsys, err := s.migrationsFS()
		must(t, err)
		p, err := s.newProvider(fsys)
		must(t, err)
		// The version table, as goose makes it before the first migration.
		if _, err := p.GetDBVersion(ctx); err != nil {
			t.Fatal(err)
		}
		baseline, err := fs.ReadFile(fsys, "00001_baseline.sql")
		must(t, err)
		up, _, _ := strings.Cut(strings.SplitN(string(baseline), "-- +goose Up\n", 2)[1], "\n-- +goose Down")
		stmts := strings.Split(strings.TrimSpace(up), ";\n")
		for _, stmt := range stmts[:len(stmts)/2] {
			must(t, s.db.Exec(stmt).Error)
		}
		must(t, s.Migrate(ctx))
		assertAtLatest(t, s)
		if ddl, err := s.autoMigrateChanges(ctx, allRows()...); err != nil || len(ddl) > 0 {
			t.Fatalf("schema differs from the models (err %v):\n%s", err, strings.Join(ddl, "\n"))
		}
	})
}

// onNode is url through Galera node i (mod the number of nodes) when the
// test runs on the cluster of TWOFOLD_TEST_GALERA_DSNS; url otherwise.
func onNode(t *testing.T, url string, i int) string {
	dsns := strings.Split(os.Getenv("TWOFOLD_TEST_GALERA_DSNS"), ",")
	cfg, err := mysqldrv.ParseDSN(strings.TrimPrefix(url, "mysql://"))
	if dsns[0] == "" || err != nil {
		return url
	}
	node, err := mysqldrv.ParseDSN(dsns[i%len(dsns)])
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dsns {
		if n, err := mysqldrv.ParseDSN(d); err == nil && n.Addr == cfg.Addr {
			cfg.Addr = node.Addr
			return "mysql://" + cfg.FormatDSN()
		}
	}
	return url // a MariaDB that is not the cluster's
}

// Without the lock (SQLite processes, or a Galera node whose lock lease
// ran out), servers migrating at once still all succeed: a raced statement
// fails, the server reads the version table again and finds the work done.
func TestMigrationsRaceWithoutTheLock(t *testing.T) {
	ctx := context.Background()
	modelstest.Each(t, func(t *testing.T, url string) {
		const n = 6
		stores := make([]*Store, n)
		for i := range stores {
			stores[i] = openManual(t, url)
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() { errs[i] = retryMigration(ctx, s.applyMigrations) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("server %d: %v", i, err)
			}
		}
		if t.Failed() {
			return
		}
		s := stores[0]
		assertAtLatest(t, s)
		// Each migration is recorded, some maybe twice (harmless: goose
		// reads the highest; the lock is what keeps this from happening).
		var rows []int64
		must(t, s.db.Raw("SELECT DISTINCT version_id FROM "+versionTable+" WHERE version_id > 0 ORDER BY version_id").Scan(&rows).Error)
		if latest, _ := s.LatestMigration(); len(rows) != int(latest) || rows[len(rows)-1] != latest {
			t.Fatalf("versions recorded %v, want 1..%d", rows, latest)
		}
		if ddl, err := s.autoMigrateChanges(ctx, allRows()...); err != nil || len(ddl) > 0 {
			t.Fatalf("schema differs from the models (err %v):\n%s", err, strings.Join(ddl, "\n"))
		}
	})
}
