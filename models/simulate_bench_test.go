package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/mfa"
)

// benchUsers is the population of BenchmarkSimulatePolicy1M's organization.
const benchUsers = 1_000_000

// benchRegistry installs factor types by id, without plugins.
type benchRegistry []string

func (r benchRegistry) Factor(string) (factors.Factor, bool) { return nil, false }
func (r benchRegistry) Types() []factors.Status {
	out := make([]factors.Status, len(r))
	for i, id := range r {
		out[i] = factors.Status{DescribeResponse: factors.DescribeResponse{ID: id}, Healthy: true}
	}
	return out
}

type benchClock struct{ t time.Time }

func (c benchClock) Now() time.Time { return c.t }

// BenchmarkSimulatePolicy1M is simulatePolicy (mfa.Service.SimulatePolicy:
// the classes' GROUP BY, the users counted alone, the judgement of each
// class) and the first page of each group's users, on MariaDB, for an
// organization of 1,000,000 active users (200 companies, 5 user types,
// 55 % enrolled with TOTP and/or passkeys, policies at every level,
// 100 user-scope policies, 200 enrolment requests) beside another
// organization of 20,000. It runs only with TWOFOLD_BENCH_MYSQL_DSN (a
// server, e.g. root@tcp(127.0.0.1:3306)/); the population is seeded once
// into the database twofold_bench_simulate (multi-row INSERTs, a few
// minutes) and kept for later runs (drop it to seed again). It also
// EXPLAINs the GROUP BY: one range of ix_users_org_simulate, index only.
func BenchmarkSimulatePolicy1M(b *testing.B) {
	dsn := os.Getenv("TWOFOLD_BENCH_MYSQL_DSN")
	if dsn == "" {
		b.Skip("set TWOFOLD_BENCH_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/) to run on MariaDB")
	}
	ctx := context.Background()
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		b.Fatal(err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE IF NOT EXISTS twofold_bench_simulate CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		b.Fatal(err)
	}
	cfg.DBName = "twofold_bench_simulate"
	cfg.Params = map[string]string{"parseTime": "true", "loc": "UTC"}
	s, err := Open(ctx, "mysql://"+cfg.FormatDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Second)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, _ := mfa.NewKeyring(key)
	svc, err := mfa.New(s, mfa.Config{Password: mfa.PasswordConfig{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256}},
		mfa.WithKeyring(ring), mfa.WithClock(benchClock{now}), mfa.WithRegistry(benchRegistry{"totp", "passkey", "hardwarekey"}))
	if err != nil {
		b.Fatal(err)
	}
	const password = "bench-password-1"
	if _, err := s.OrganizationBySlug(ctx, "bench"); err != nil {
		if _, err := svc.Bootstrap(ctx, "bench", "admin", password); err != nil {
			b.Fatal(err)
		}
	}
	res, err := svc.Login(ctx, mfa.LoginRequest{Organization: "bench", Username: "admin", Password: password})
	if err != nil {
		b.Fatal(err)
	}
	v, err := svc.Authenticate(ctx, res.Token)
	if err != nil {
		b.Fatal(err)
	}
	org := v.User.OrganizationID
	companies := seedSimulationBench(b, s, svc, v, now)

	var plan []explainRow
	// The whole scope, and one of its parts (a range of companies).
	where, args := simulationScope(org, mfa.PolicyScope{})
	for _, w := range [][]string{where, append(where, "users.company_id >= ? AND users.company_id < ?")} {
		a := append(append([]any{}, args...), companies[50], companies[100])[:len(args)+2*(len(w)-len(where))]
		var p []explainRow
		if err := s.db.Raw("EXPLAIN "+simulationGroupsSQL(w), a...).Scan(&p).Error; err != nil {
			b.Fatal(err)
		}
		plan = append(plan, p...)
	}
	for _, row := range plan {
		b.Logf("EXPLAIN: table %s type %s key %v rows %v extra %v", row.Table, row.Type, show(row.Key), show(row.Rows), show(row.Extra))
		if row.Type == "ALL" || row.Key == nil || *row.Key != "ix_users_org_simulate" || row.Extra == nil || !strings.Contains(*row.Extra, "Using index") {
			b.Fatalf("the classes are not counted from ix_users_org_simulate alone: %+v", row)
		}
	}

	changes := map[string]mfa.SetPolicyRequest{
		// Every user: required, TOTP only (every class's lists change).
		"organization": {Scope: mfa.PolicyScope{}, Patch: mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), AllowedFactorTypes: mfa.To([]string{"totp"})}},
		// 200,000 users: one user type disabled.
		"user-type": {Scope: mfa.PolicyScope{UserType: "case_manager"}, Patch: mfa.PolicyPatch{Mode: mfa.To(mfa.ModeDisabled)}},
		// 4,000 users: one company required.
		"company": {Scope: mfa.PolicyScope{CompanyID: companies[7]}, Patch: mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)}},
	}
	for name, req := range changes {
		b.Run(name, func(b *testing.B) {
			var sim *mfa.PolicySimulation
			for b.Loop() {
				if sim, err = svc.SimulatePolicy(ctx, v, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
			b.Logf("%s: %v, seats available %v", name, sim.Counts, show(sim.SeatsAvailable))
		})
		b.Run(name+"/first-pages", func(b *testing.B) {
			sim, err := svc.SimulatePolicy(ctx, v, req)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				for _, g := range mfa.SimulationGroups {
					if _, err := svc.SimulatedUsers(ctx, v, sim, g, mfa.Page{Limit: 100}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

// explainRow is a row of MariaDB's EXPLAIN.
type explainRow struct {
	Table string
	Type  string
	Key   *string
	Rows  *int64
	Extra *string
}

func show[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// seedSimulationBench seeds the benchmark's organization once (a marker:
// its user count) and returns its companies.
func seedSimulationBench(b *testing.B, s *Store, svc *mfa.Service, v *mfa.Viewer, now time.Time) []string {
	ctx := context.Background()
	org := v.User.OrganizationID
	var companies []string
	if err := s.db.Raw("SELECT id FROM companies WHERE organization_id = ? ORDER BY name", org).Scan(&companies).Error; err != nil {
		b.Fatal(err)
	}
	var n int64
	s.db.Raw("SELECT COUNT(*) FROM users WHERE organization_id = ?", org).Scan(&n)
	if n >= benchUsers {
		return companies
	}
	start := time.Now()
	for i := len(companies); i < 200; i++ {
		c, err := svc.CreateCompany(ctx, v, fmt.Sprintf("Company %03d", i))
		if err != nil {
			b.Fatal(err)
		}
		companies = append(companies, c.ID)
	}
	other := uuid.Must(uuid.NewV7()).String()
	if err := s.db.Exec("INSERT INTO organizations (id, slug, name, created_at) VALUES (?, ?, ?, ?)", other, "bench-other", "Other", now).Error; err != nil {
		b.Fatal(err)
	}
	types := []string{"case_manager", "supplier", "staff", "contractor", ""}
	var requested, alone []string
	insert := func(orgID string, count int, prefix string) {
		const batch = 1000
		for lo := 0; lo < count; lo += batch {
			var users, enrollments []string
			var ua, ea []any
			for i := lo; i < min(lo+batch, count); i++ {
				id := uuid.Must(uuid.NewV7()).String()
				var company any
				if i%5 != 0 {
					company = companies[(i/5)%len(companies)]
				}
				var fts []string
				if i%20 < 8 {
					fts = append(fts, "passkey")
				}
				if i%20 >= 6 && i%20 < 9 || i%10 == 9 {
					fts = append(fts, "totp")
				}
				name := fmt.Sprintf("%s%07d", prefix, i)
				users = append(users, "(?, ?, ?, ?, ?, '', ?, '', 'x', 'ACTIVE', ?, ?, ?, ?)")
				ua = append(ua, id, orgID, company, name, name+"@example.com", types[i%len(types)], now, now, len(fts) > 0, strings.Join(fts, ","))
				for _, t := range fts {
					enrollments = append(enrollments, "(?, ?, ?, 'x', 'ACTIVE', '', '', '', ?, ?, ?)")
					ea = append(ea, uuid.Must(uuid.NewV7()).String(), id, t, id, now, now)
				}
				if orgID == org && i%5000 == 1 {
					requested = append(requested, id)
				}
				if orgID == org && i%10000 == 2 {
					alone = append(alone, id)
				}
			}
			err := s.db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec("INSERT INTO users (id, organization_id, company_id, username, email, display_name, user_type, permissions, password_hash, status,"+
					" created_at, updated_at, mfa_enrolled, mfa_factor_types) VALUES "+strings.Join(users, ", "), ua...).Error; err != nil {
					return err
				}
				if len(enrollments) == 0 {
					return nil
				}
				return tx.Exec("INSERT INTO enrollments (id, user_id, factor_type, label, status, key_id, external_id, metadata, created_by, created_at, activated_at) VALUES "+
					strings.Join(enrollments, ", "), ea...).Error
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	insert(other, 20_000, "o")
	insert(org, benchUsers, "u")
	for _, id := range requested {
		// As requestEnrollment writes it (the benchmark has no plugins).
		if err := s.db.Exec("INSERT INTO enrollment_requests (id, user_id, factor_type, requested_by, created_at) VALUES (?, ?, 'hardwarekey', ?, ?)",
			uuid.Must(uuid.NewV7()).String(), id, v.User.ID, now).Error; err != nil {
			b.Fatal(err)
		}
	}
	set := func(sc mfa.PolicyScope, p mfa.PolicyPatch) {
		if _, err := svc.SetPolicy(ctx, v, mfa.SetPolicyRequest{Scope: sc, Patch: p}); err != nil {
			b.Fatal(err)
		}
	}
	for _, id := range alone {
		set(mfa.PolicyScope{UserID: id}, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeOptional), AllowedFactorTypes: mfa.To([]string{"passkey"})})
	}
	set(mfa.PolicyScope{UserType: "supplier"}, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)})
	for i := 0; i < 200; i += 4 {
		set(mfa.PolicyScope{CompanyID: companies[i]}, mfa.PolicyPatch{AllowedFactorTypes: mfa.To([]string{"passkey", "hardwarekey"})})
		set(mfa.PolicyScope{CompanyID: companies[i+1], UserType: "staff"}, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)})
	}
	s.db.Exec("ANALYZE TABLE users, enrollments, policies, enrollment_requests")
	b.Logf("seeded %d users in %v", benchUsers+20_000, time.Since(start))
	return companies
}
