package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func id() string { return uuid.Must(uuid.NewV7()).String() }

func open(t *testing.T, url string) *models.Store {
	t.Helper()
	s, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func seedOrg(t *testing.T, s *models.Store) *mfa.Organization {
	t.Helper()
	o := &mfa.Organization{ID: id(), Slug: "acme-" + id()[28:], Name: "Acme", CreatedAt: time.Now().UTC()}
	if err := s.CreateOrganization(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return o
}

func seedUser(t *testing.T, s *models.Store, orgID, username string, mod func(*mfa.User)) *mfa.User {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := &mfa.User{ID: id(), OrganizationID: orgID, Username: username, Email: username + "@example.com",
		DisplayName: username, Status: mfa.UserActive, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(u)
	}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestMigrationsAreIdempotent(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		org := seedOrg(t, s)
		for i := range 2 {
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("migration run %d: %v", i+2, err)
			}
		}
		s.Close()
		// A second process opening the same database migrates again and
		// keeps the data.
		s2 := open(t, url)
		if _, err := s2.OrganizationBySlug(context.Background(), org.Slug); err != nil {
			t.Fatalf("data lost across migrations: %v", err)
		}
	})
}

func TestUniqueKeysAndNotFound(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "alice", nil)
		dup := *u
		dup.ID = id()
		if err := s.CreateUser(ctx, &dup); !errors.Is(err, mfa.ErrDuplicate) {
			t.Fatalf("duplicate username: got %v, want ErrDuplicate", err)
		}
		if _, err := s.UserByID(ctx, id()); !errors.Is(err, mfa.ErrNotFound) {
			t.Fatalf("missing user: got %v, want ErrNotFound", err)
		}
		got, err := s.UserByLogin(ctx, org.ID, "alice@example.com")
		if err != nil || got.ID != u.ID {
			t.Fatalf("login by email: %v %v", got, err)
		}
	})
}

func TestTransactionRollsBack(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		boom := errors.New("boom")
		err := s.Transaction(ctx, func(tx mfa.Store) error {
			c := &mfa.Company{ID: id(), OrganizationID: org.ID, Name: "Rolled back", CreatedAt: time.Now().UTC()}
			if err := tx.CreateCompany(ctx, c); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		cs, err := s.Companies(ctx, org.ID)
		if err != nil || len(cs) != 0 {
			t.Fatalf("rollback left %d companies (%v)", len(cs), err)
		}
	})
}

// TestTakeAttemptIsAtomic: parallel attempts through two pools (two
// servers) take exactly max slots, for a user and for an unknown name; the
// lock is set once; after it expires a fresh count starts.
func TestTakeAttemptIsAtomic(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		stores := []*models.Store{open(t, url), open(t, url)}
		s := stores[0]
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "bob", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, sub := range []mfa.AttemptSubject{{UserID: u.ID}, {Key: "6e616d65"}} {
			const workers, max = 24, 5
			var wg sync.WaitGroup
			var mu sync.Mutex
			taken := 0
			for i := range workers {
				wg.Go(func() {
					ok, locked, err := stores[i%2].TakeAttempt(ctx, sub, now, max)
					if err != nil || locked {
						t.Errorf("take: locked=%v err=%v", locked, err)
					}
					if ok {
						mu.Lock()
						taken++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if taken != max {
				t.Fatalf("%+v: %d slots taken by %d parallel attempts, want %d", sub, taken, workers, max)
			}
			// A right answer gives its slot back; the next attempt takes it.
			if err := s.ReleaseAttempt(ctx, sub); err != nil {
				t.Fatal(err)
			}
			if ok, _, err := s.TakeAttempt(ctx, sub, now, max); !ok || err != nil {
				t.Fatalf("after release: taken=%v err=%v", ok, err)
			}
			lockUntil := now.Add(time.Minute)
			locked, just, err := s.LockAttempts(ctx, sub, now, max, lockUntil)
			if !locked || !just || err != nil {
				t.Fatalf("lock: locked=%v just=%v err=%v", locked, just, err)
			}
			if locked, just, _ := stores[1].LockAttempts(ctx, sub, now, max, lockUntil.Add(time.Hour)); !locked || just {
				t.Fatalf("second lock: locked=%v just=%v, want locked by the first", locked, just)
			}
			if ok, locked, _ := s.TakeAttempt(ctx, sub, now, max); ok || !locked {
				t.Fatalf("while locked: taken=%v locked=%v", ok, locked)
			}
			later := lockUntil.Add(time.Second)
			if ok, locked, _ := s.TakeAttempt(ctx, sub, later, max); !ok || locked {
				t.Fatalf("after expiry: taken=%v locked=%v, want a fresh count", ok, locked)
			}
		}
		got, _ := s.UserByID(ctx, u.ID)
		if got.FailedAttempts != 1 || got.LockedUntil != nil {
			t.Fatalf("user after expiry: attempts=%d lockedUntil=%v", got.FailedAttempts, got.LockedUntil)
		}
	})
}

// TestRecordLoginSuccess: two successes in the same instant both count
// (MariaDB reports an UPDATE writing identical values as 0 rows unless rows
// are counted as matched), and a locked or inactive user is refused.
func TestRecordLoginSuccess(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "bob", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		for range 3 {
			if err := s.RecordLoginSuccess(ctx, u.ID, now, true); err != nil {
				t.Fatalf("same values again: %v", err)
			}
		}
		sub := mfa.AttemptSubject{UserID: u.ID}
		_, _, _ = s.TakeAttempt(ctx, sub, now, 1)
		if locked, _, _ := s.LockAttempts(ctx, sub, now, 1, now.Add(time.Minute)); !locked {
			t.Fatal("not locked")
		}
		if err := s.RecordLoginSuccess(ctx, u.ID, now, true); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("locked user: %v, want ErrStale", err)
		}
		if err := s.RecordLoginSuccess(ctx, u.ID, now.Add(2*time.Minute), false); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		if err := s.SetPasswordHash(ctx, u.ID, "not-the-hash", "x"); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("guarded rehash over a changed hash: %v, want ErrStale", err)
		}
	})
}

func TestUsersSearchFilterAndPaging(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		other := seedOrg(t, s)
		c := &mfa.Company{ID: id(), OrganizationID: org.ID, Name: "Globex 100%_Corp", CreatedAt: time.Now().UTC()}
		if err := s.CreateCompany(ctx, c); err != nil {
			t.Fatal(err)
		}
		for i := range 7 {
			seedUser(t, s, org.ID, fmt.Sprintf("user%02d", i), func(u *mfa.User) {
				if i%2 == 0 {
					u.CompanyID = c.ID
					u.UserType = "case_manager"
				}
			})
		}
		seedUser(t, s, org.ID, "zed", func(u *mfa.User) { u.DisplayName = "Zed Percent%" })
		seedUser(t, s, other.ID, "user99", nil) // another tenant: never listed

		// Search is by word prefix (models/search.go); "%" and "_" are
		// characters, never wildcards.
		cases := map[string]struct {
			q         mfa.UserQuery
			wantTotal int
			wantFirst string
			wantLen   int
		}{
			"all first page":         {mfa.UserQuery{Page: mfa.Page{Limit: 3}}, 8, "user00", 3},
			"desc":                   {mfa.UserQuery{Desc: true, Page: mfa.Page{Limit: 1}}, 8, "zed", 1},
			"company name search":    {mfa.UserQuery{Filter: mfa.UserFilter{Search: "globex"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"two words, any order":   {mfa.UserQuery{Filter: mfa.UserFilter{Search: "corp glob"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"wildcards literal":      {mfa.UserQuery{Filter: mfa.UserFilter{Search: "100%_c"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"underscore no wildcard": {mfa.UserQuery{Filter: mfa.UserFilter{Search: "100__"}, Page: mfa.Page{Limit: 10}}, 0, "", 0},
			"percent no wildcard":    {mfa.UserQuery{Filter: mfa.UserFilter{Search: "1%"}, Page: mfa.Page{Limit: 10}}, 0, "", 0},
			"percent in name":        {mfa.UserQuery{Filter: mfa.UserFilter{Search: "percent%"}, Page: mfa.Page{Limit: 10}}, 1, "zed", 1},
			"not a word prefix":      {mfa.UserQuery{Filter: mfa.UserFilter{Search: "ercent"}, Page: mfa.Page{Limit: 10}}, 0, "", 0},
			"email search":           {mfa.UserQuery{Filter: mfa.UserFilter{Search: "USER03@"}, Page: mfa.Page{Limit: 10}}, 1, "user03", 1},
			"by type":                {mfa.UserQuery{Filter: mfa.UserFilter{UserType: "case_manager"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"by company":             {mfa.UserQuery{Filter: mfa.UserFilter{CompanyID: c.ID}, Page: mfa.Page{Limit: 2}}, 4, "user00", 2},
			"status none":            {mfa.UserQuery{Filter: mfa.UserFilter{Status: mfa.UserDeactivated}, Page: mfa.Page{Limit: 10}}, 0, "", 0},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				tc.q.OrganizationID = org.ID
				tc.q.OrderBy = mfa.UserOrderUsername
				l, err := s.Users(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if l.Total != tc.wantTotal || len(l.Items) != tc.wantLen || !l.TotalExact {
					t.Fatalf("total=%d (exact %v) len=%d, want %d/%d", l.Total, l.TotalExact, len(l.Items), tc.wantTotal, tc.wantLen)
				}
				if tc.wantLen > 0 && l.Items[0].Username != tc.wantFirst {
					t.Fatalf("first = %s, want %s", l.Items[0].Username, tc.wantFirst)
				}
			})
		}
		// The second page starts after the first page's last cursor.
		q := mfa.UserQuery{OrganizationID: org.ID, OrderBy: mfa.UserOrderUsername, Page: mfa.Page{Limit: 3}}
		first, err := s.Users(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		q.Page.After = &first.Cursors[2]
		second, err := s.Users(ctx, q)
		if err != nil || len(second.Items) != 3 || second.Items[0].Username != "user03" || !second.More {
			t.Fatalf("second page: %+v %v", second, err)
		}
	})
}

// TestUpdateUserWritesOnlyProfile: an admin's edit, made from a copy of the
// user read earlier, does not write back the password hash, login times or
// failure count (a password change or a login in between would be undone).
func TestUpdateUserWritesOnlyProfile(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "bob", nil)
		stale := *u
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.SetPasswordHash(ctx, u.ID, u.PasswordHash, "new-hash"); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordLoginSuccess(ctx, u.ID, now, true); err != nil {
			t.Fatal(err)
		}
		_, _, _ = s.TakeAttempt(ctx, mfa.AttemptSubject{UserID: u.ID}, now, 5)
		stale.DisplayName = "Bob Edited"
		if err := s.UpdateUser(ctx, &stale); err != nil {
			t.Fatal(err)
		}
		got, _ := s.UserByID(ctx, u.ID)
		if got.DisplayName != "Bob Edited" || got.PasswordHash != "new-hash" || got.LastLoginAt == nil || got.LastMFAAt == nil || got.FailedAttempts != 1 {
			t.Fatalf("after a stale edit: name=%q hash=%q lastLogin=%v lastMFA=%v failed=%d", got.DisplayName, got.PasswordHash, got.LastLoginAt, got.LastMFAAt, got.FailedAttempts)
		}
	})
}
