package models_test

import (
	"context"
	"slices"
	"testing"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func TestLockActiveManagers(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		org, other := seedOrg(t, s), seedOrg(t, s)
		perms := func(p ...mfa.Permission) func(*mfa.User) { return func(u *mfa.User) { u.Permissions = p } }
		a := seedUser(t, s, org.ID, "a", perms(mfa.PermissionManageOrganization))
		b := seedUser(t, s, org.ID, "b", perms(mfa.PermissionViewAudit, mfa.PermissionManageOrganization))
		seedUser(t, s, org.ID, "c", perms(mfa.PermissionManageUsers, mfa.PermissionViewAudit))
		seedUser(t, s, org.ID, "d", func(u *mfa.User) {
			u.Permissions, u.Status = []mfa.Permission{mfa.PermissionManageOrganization}, mfa.UserDeactivated
		})
		seedUser(t, s, other.ID, "e", perms(mfa.PermissionManageOrganization))
		var got []string
		err := s.Transaction(ctx, func(tx mfa.Store) error {
			var err error
			got, err = tx.LockActiveManagers(ctx, org.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{a.ID, b.ID}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("active managers = %v, want %v (a, b)", got, want)
		}
	})
}
