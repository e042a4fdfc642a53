package main

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

// The seeded organization: its slug, admin and the one password every
// seeded user shares (hashed once: a million argon2id hashes would take
// hours).
const (
	orgSlug   = "bench"
	adminName = "admin"
	password  = "bench-password-123"
)

var (
	userTypes = []string{"staff", "supplier", "case_manager", "contractor", "partner"}
	firsts    = strings.Fields("Anna Ben Carla David Emma Felix Greta Hugo Ines Jonas Klara Leon Mia Noah Olga Paul Rosa Sven Tara Umar Vera Wim Xenia Yusuf Zoe Alma Bruno Chloe Dario Elif Frida Goran Hanna Ivan Jana Karl Lina Marco Nora Otto Petra Quentin Ruth Samir Tilda Ugo Vanja Walt Yara Zeno")
	lasts     = strings.Fields("Smith Kowalski Novak Meyer Rossi Garcia Dubois Jensen Silva Horvat Nagy Popescu Ivanova Berg Larsen Costa Moreau Fischer Weber Keller Brun Lopez Martin Bianchi Conti Svensson Nilsson Olsen Hansen Kovac Zajac Wojcik Lewis Walker Hughes Wright Baker Clarke Turner Hill Moore Young King Scott Green Adams Carter Evans Parker Cook")
)

// seeded is what the load generator needs to know about the data.
type seeded struct {
	orgID   string
	adminID string
	users   int
	// plain are users who log in with a password alone (no factor, not
	// required), by username.
	plain []string
	// totp are enrolled users: username, enrollment id and TOTP secret.
	totp     []totpUser
	policies []mfa.Policy
	// busyActor is the user with the most audit events.
	busyActor string
	audit     int
	// truth is the ground truth the answers are checked against.
	truth truth
	took  time.Duration
}

type totpUser struct {
	userID, username, enrollmentID, secret string
}

// truth holds the counts the admin queries must answer.
type truth struct {
	users, notEnrolled, required int
	stats                        map[string]mfa.MFAStat
	searchTerm                   string
	searchHits                   int
	deepUsername                 string
	auditEvents, busyActorEvents int
}

// secretOf is user i's TOTP secret: derived from i, so nothing is stored.
func secretOf(i int) string {
	sum := sha1.Sum([]byte(fmt.Sprintf("twofold-bench-%d", i)))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
}

func usernameOf(i int) string { return fmt.Sprintf("u%07d", i) }

// seed fills a fresh database at url with n users (30 % with TOTP) in 200
// companies, 5 user types, a few policies and auditN audit events, by bulk
// inserts through the store, and returns the ground truth.
func seed(ctx context.Context, url string, key []byte, n, auditN int, logf func(string, ...any)) (*seeded, error) {
	start := time.Now()
	st, err := models.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ring, err := mfa.NewKeyring(key)
	if err != nil {
		return nil, err
	}
	p := mfa.DefaultPasswordConfig
	hash, err := argon2id.CreateHash(password, &argon2id.Params{Memory: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism, SaltLength: 16, KeyLength: 32})
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	org := &mfa.Organization{ID: newID(), Slug: orgSlug, Name: "Bench", CreatedAt: now}
	if err := st.CreateOrganization(ctx, org); err != nil {
		return nil, err
	}
	admin := &mfa.User{ID: newID(), OrganizationID: org.ID, Username: adminName, Email: "admin@bench.invalid", DisplayName: "Administrator",
		PasswordHash: hash, Status: mfa.UserActive, Permissions: mfa.AllPermissions, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, admin); err != nil {
		return nil, err
	}
	companies := make([]string, 200)
	for i := range companies {
		c := &mfa.Company{ID: newID(), OrganizationID: org.ID, Name: fmt.Sprintf("Company %03d", i), CreatedAt: now}
		if err := st.CreateCompany(ctx, c); err != nil {
			return nil, err
		}
		companies[i] = c.ID
	}
	// Policies: case managers everywhere and the first 20 companies must
	// use MFA (from an hour ago); company 0's suppliers from tomorrow; one
	// user in 5,000 opted out.
	hourAgo, tomorrow := now.Add(-time.Hour), now.Add(24*time.Hour)
	required, disabled := mfa.ModeRequired, mfa.ModeDisabled
	policies := []mfa.Policy{
		{Scope: mfa.PolicyScope{UserType: "case_manager"}, PolicySettings: mfa.PolicySettings{Mode: &required, EnforceFrom: &hourAgo}},
		{Scope: mfa.PolicyScope{CompanyID: companies[0], UserType: "supplier"}, PolicySettings: mfa.PolicySettings{Mode: &required, EnforceFrom: &tomorrow}},
	}
	for i := range 20 {
		policies = append(policies, mfa.Policy{Scope: mfa.PolicyScope{CompanyID: companies[i]}, PolicySettings: mfa.PolicySettings{Mode: &required, EnforceFrom: &hourAgo}})
	}

	s := &seeded{orgID: org.ID, adminID: admin.ID, users: n, audit: auditN}
	t := &s.truth
	t.stats = map[string]mfa.MFAStat{}
	t.searchTerm = "anna kowalski"
	rng := rand.New(rand.NewSource(1))
	const chunk = 20000
	users := make([]mfa.User, 0, chunk)
	var ens []mfa.Enrollment
	var allUsers []mfa.User // kept lean: for the policy ground truth
	flush := func() error {
		if err := st.BulkCreateUsers(ctx, org.ID, users); err != nil {
			return err
		}
		if err := st.BulkCreateEnrollments(ctx, ens); err != nil {
			return err
		}
		users, ens = users[:0], ens[:0]
		return nil
	}
	for i := range n {
		first, last := firsts[rng.Intn(len(firsts))], lasts[rng.Intn(len(lasts))]
		u := mfa.User{ID: newID(), OrganizationID: org.ID, Username: usernameOf(i), Email: usernameOf(i) + "@example.com",
			DisplayName: first + " " + last, UserType: userTypes[i%len(userTypes)], PasswordHash: hash, Status: mfa.UserActive,
			CreatedAt: now.Add(-time.Duration(rng.Intn(86400*365)) * time.Second), UpdatedAt: now}
		if i%10 != 0 {
			u.CompanyID = companies[rng.Intn(len(companies))]
		}
		if i%101 == 0 {
			u.Status = mfa.UserDeactivated
		}
		if i%5000 == 2500 {
			policies = append(policies, mfa.Policy{Scope: mfa.PolicyScope{UserID: u.ID}, PolicySettings: mfa.PolicySettings{Mode: &disabled}})
		}
		if rng.Intn(10) < 3 {
			e := mfa.Enrollment{ID: newID(), UserID: u.ID, FactorType: "totp", Label: "Authenticator app", Status: mfa.EnrollmentActive,
				Version: 1, CreatedAt: u.CreatedAt, ActivatedAt: &u.CreatedAt}
			plain, _ := json.Marshal(map[string]any{"secret": secretOf(i), "digits": 6, "period": 30, "algorithm": "SHA1", "skew": 1, "last_step": 0})
			e.State, e.KeyID = ring.Seal(plain, "enrollment:"+e.ID)
			ens = append(ens, e)
			u.MFAEnrolled = true
			if u.Status == mfa.UserActive && i%5000 != 2500 { // not opted out
				s.totp = append(s.totp, totpUser{userID: u.ID, username: u.Username, enrollmentID: e.ID, secret: secretOf(i)})
			}
		}
		if strings.EqualFold(u.DisplayName, t.searchTerm) {
			t.searchHits++
		}
		users = append(users, u)
		allUsers = append(allUsers, mfa.User{ID: u.ID, CompanyID: u.CompanyID, UserType: u.UserType, Status: u.Status, MFAEnrolled: u.MFAEnrolled, Username: u.Username})
		if len(users) == chunk {
			if err := flush(); err != nil {
				return nil, err
			}
			logf("seeded %d users", i+1)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for i := range policies {
		policies[i].ID, policies[i].OrganizationID, policies[i].UpdatedAt = newID(), org.ID, now
		if err := st.UpsertPolicy(ctx, &policies[i]); err != nil {
			return nil, err
		}
	}

	s.policies = policies
	// Ground truth of the policy-derived counts, resolved in Go (the
	// in-memory definition the SQL one must agree with).
	adminCopy := *admin
	for _, u := range append(allUsers, adminCopy) {
		req := mfa.ResolvePolicy(policies, &u, []string{"totp"}, mfa.Config{}).Enforced(now)
		t.users++
		if !u.MFAEnrolled {
			t.notEnrolled++
		}
		if req {
			t.required++
		}
		if u.Username != adminName && !u.MFAEnrolled && !req && u.Status == mfa.UserActive && len(s.plain) < 200000 {
			s.plain = append(s.plain, u.Username)
		}
		if u.Status != mfa.UserActive {
			continue
		}
		stat := t.stats[u.UserType]
		stat.UserType = u.UserType
		stat.Users++
		if req {
			stat.Required++
		}
		if u.MFAEnrolled {
			stat.Enrolled++
		} else if req {
			stat.Pending++
		}
		t.stats[u.UserType] = stat
	}
	t.deepUsername = usernameOf(n * 9 / 10)
	rng.Shuffle(len(s.totp), func(i, j int) { s.totp[i], s.totp[j] = s.totp[j], s.totp[i] })
	rng.Shuffle(len(s.plain), func(i, j int) { s.plain[i], s.plain[j] = s.plain[j], s.plain[i] })
	logf("seeded %d users, %d enrollments, %d policies in %v", n, len(s.totp), len(policies), time.Since(start).Round(time.Second))

	// Audit events: one in five by a busy actor (user 1), the rest by
	// random users, over the last 90 days; multi-row INSERTs.
	db, err := st.SQLDB()
	if err != nil {
		return nil, err
	}
	s.busyActor = allUsers[1].ID
	if err := seedAudit(ctx, db, st.Dialect(), org.ID, allUsers, auditN, now, logf); err != nil {
		return nil, err
	}
	t.auditEvents = auditN
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE organization_id = ? AND (actor_id = ? OR subject_id = ?)`,
		org.ID, s.busyActor, s.busyActor).Scan(&t.busyActorEvents); err != nil {
		return nil, err
	}
	// SQL ground truth of the plain counts.
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE organization_id = ?`, org.ID).Scan(&t.users); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u WHERE u.organization_id = ? AND NOT EXISTS
		(SELECT 1 FROM enrollments e WHERE e.user_id = u.id AND e.status = 'ACTIVE')`, org.ID).Scan(&t.notEnrolled); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE organization_id = ?`, org.ID).Scan(&t.auditEvents); err != nil {
		return nil, err
	}
	if st.Dialect() == "mysql" {
		_, _ = db.ExecContext(ctx, "ANALYZE TABLE users, enrollments, audit_events, user_search_tokens, policies")
	} else {
		_, _ = db.ExecContext(ctx, "ANALYZE")
	}
	s.took = time.Since(start)
	return s, nil
}

func seedAudit(ctx context.Context, db *sql.DB, dialect, orgID string, users []mfa.User, n int, now time.Time, logf func(string, ...any)) error {
	const batch = 1000
	actions := []string{"login.succeeded", "login.failed", "factor.verified", "factor.enrolled", "user.updated", "session.revoked"}
	rng := rand.New(rand.NewSource(2))
	row := "(?,?,?,?,?,?,?,?,?)"
	var q strings.Builder
	args := make([]any, 0, batch*9)
	started := time.Now()
	for done := 0; done < n; {
		m := min(batch, n-done)
		q.Reset()
		q.WriteString("INSERT INTO audit_events (id, organization_id, actor_id, subject_id, action, ip, user_agent, details, created_at) VALUES ")
		args = args[:0]
		for j := range m {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteString(row)
			actor := users[rng.Intn(len(users))].ID
			if rng.Intn(5) == 0 {
				actor = users[1].ID
			}
			at := now.Add(-time.Duration(rng.Int63n(int64(90 * 24 * time.Hour))))
			args = append(args, newID(), orgID, actor, users[rng.Intn(len(users))].ID, actions[rng.Intn(len(actions))],
				"10.0.0.1", "bench", "", at)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			tx.Rollback()
			return fmt.Errorf("audit insert: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		done += m
		if done%500000 == 0 {
			logf("seeded %d audit events (%v)", done, time.Since(started).Round(time.Second))
		}
	}
	_ = dialect
	return nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
