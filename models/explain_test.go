package models

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

// TestUserListsWalkAnIndex EXPLAINs each user list order on MariaDB: the
// users table is read through an index of the organization (never a full
// scan, type ALL) and the page needs no filesort of the organization.
func TestUserListsWalkAnIndex(t *testing.T) {
	if !strings.Contains(strings.Join(modelstest.Dialects(t), ","), "mysql") {
		t.Skip("EXPLAIN is checked on MariaDB")
	}
	ctx := context.Background()
	s, err := Open(ctx, modelstest.NewURL(t, "mysql"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org := "0190d6f4-3b0a-7cc1-9a57-000000000001"
	var users []mfa.User
	for i := range 300 {
		now := time.Now().UTC()
		users = append(users, mfa.User{ID: fmt.Sprintf("0190d6f4-3b0a-7cc1-9a57-%012d", i), Username: fmt.Sprintf("u%03d", i),
			Email: fmt.Sprintf("u%03d@example.com", i), DisplayName: fmt.Sprintf("User %d", i), Status: mfa.UserActive, CreatedAt: now, UpdatedAt: now})
	}
	if err := s.BulkCreateUsers(ctx, org, users); err != nil {
		t.Fatal(err)
	}
	s.db.Exec("ANALYZE TABLE users, user_search_tokens")
	for order, cols := range userKeysets {
		for _, desc := range []bool{false, true} {
			q := mfa.UserQuery{OrganizationID: org, OrderBy: order, Desc: desc, Now: time.Now()}
			where, args, _ := s.userWhere(q)
			query, a := userPageSQL(q, keyset{cols: cols, idExpr: "users.id", desc: desc}, where, args, 51)
			var plan []struct {
				Table string
				Type  string
				Key   *string
				Extra *string
			}
			if err := s.db.Raw("EXPLAIN "+query, a...).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			for _, row := range plan {
				if row.Table != "users" {
					continue
				}
				extra := ""
				if row.Extra != nil {
					extra = *row.Extra
				}
				if row.Type == "ALL" || row.Key == nil || strings.Contains(extra, "filesort") {
					t.Errorf("%s desc=%v: users read by %s key %v (%s)", order, desc, row.Type, row.Key, extra)
				}
			}
		}
	}
}
