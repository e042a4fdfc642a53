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

func TestRecordLoginFailureIsAtomic(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "bob", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		const workers = 12
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				errs <- s.Transaction(ctx, func(tx mfa.Store) error {
					_, err := tx.RecordLoginFailure(ctx, u.ID, now, 5, now.Add(time.Minute))
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.UserByID(ctx, u.ID)
		if got.FailedAttempts != workers {
			t.Fatalf("failed attempts = %d, want %d (lost updates)", got.FailedAttempts, workers)
		}
		if got.LockedUntil == nil || !got.LockedUntil.Equal(now.Add(time.Minute)) {
			t.Fatalf("locked until = %v, want %v", got.LockedUntil, now.Add(time.Minute))
		}
		// After the lock expires the next failure starts a fresh count.
		later := now.Add(2 * time.Minute)
		got, err := s.RecordLoginFailure(ctx, u.ID, later, 5, later.Add(time.Minute))
		if err != nil || got.FailedAttempts != 1 || got.LockedUntil != nil {
			t.Fatalf("after expiry: attempts=%d lockedUntil=%v err=%v", got.FailedAttempts, got.LockedUntil, err)
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

		cases := map[string]struct {
			q         mfa.UserQuery
			wantTotal int
			wantFirst string
			wantLen   int
		}{
			"all first page":      {mfa.UserQuery{Page: mfa.Page{Limit: 3}}, 8, "user00", 3},
			"second page":         {mfa.UserQuery{Page: mfa.Page{Offset: 3, Limit: 3}}, 8, "user03", 3},
			"desc":                {mfa.UserQuery{Desc: true, Page: mfa.Page{Limit: 1}}, 8, "zed", 1},
			"company name search": {mfa.UserQuery{Filter: mfa.UserFilter{Search: "globex"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"wildcards literal":   {mfa.UserQuery{Filter: mfa.UserFilter{Search: "%_c"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"percent in name":     {mfa.UserQuery{Filter: mfa.UserFilter{Search: "t%"}, Page: mfa.Page{Limit: 10}}, 1, "zed", 1},
			"email search":        {mfa.UserQuery{Filter: mfa.UserFilter{Search: "USER03@"}, Page: mfa.Page{Limit: 10}}, 1, "user03", 1},
			"by type":             {mfa.UserQuery{Filter: mfa.UserFilter{UserType: "case_manager"}, Page: mfa.Page{Limit: 10}}, 4, "user00", 4},
			"by company":          {mfa.UserQuery{Filter: mfa.UserFilter{CompanyID: c.ID}, Page: mfa.Page{Limit: 2}}, 4, "user00", 2},
			"status none":         {mfa.UserQuery{Filter: mfa.UserFilter{Status: mfa.UserDeactivated}, Page: mfa.Page{Limit: 10}}, 0, "", 0},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				tc.q.OrganizationID = org.ID
				tc.q.OrderBy = mfa.UserOrderUsername
				users, total, err := s.Users(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if total != tc.wantTotal || len(users) != tc.wantLen {
					t.Fatalf("total=%d len=%d, want %d/%d", total, len(users), tc.wantTotal, tc.wantLen)
				}
				if tc.wantLen > 0 && users[0].Username != tc.wantFirst {
					t.Fatalf("first = %s, want %s", users[0].Username, tc.wantFirst)
				}
			})
		}
	})
}
