package models

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/twofoldauth/twofold/mfa"
)

// A policy dry run reads classes of identical users (mfa/simulate.go
// judges them): one GROUP BY over the scope's active users on
// ix_users_org_simulate (organization, status, company, user type,
// mfa_enrolled, mfa_factor_types), which covers it, so a million users
// are one index range and no enrollment is read; then the few users with a
// user-scope policy or an enrollment request, each alone, and they are
// taken out of their group's count.

// simulationScope is the WHERE of the scope's active users.
func simulationScope(orgID string, sc mfa.PolicyScope) ([]string, []any) {
	where, args := []string{"users.organization_id = ?", "users.status = ?"}, []any{orgID, string(mfa.UserActive)}
	switch sc.Level() {
	case mfa.LevelUser:
		where, args = append(where, "users.id = ?"), append(args, sc.UserID)
	case mfa.LevelCompanyUserType:
		where, args = append(where, "users.company_id = ?", "users.user_type = ?"), append(args, sc.CompanyID, sc.UserType)
	case mfa.LevelCompany:
		where, args = append(where, "users.company_id = ?"), append(args, sc.CompanyID)
	case mfa.LevelUserType:
		where, args = append(where, "users.user_type = ?"), append(args, sc.UserType)
	}
	return where, args
}

// userPolicySQL and requestedSQL: the user row has a user-scope policy
// (the unique scope index's point) or an enrollment request.
const (
	userPolicySQL = "EXISTS (SELECT 1 FROM policies pu WHERE pu.organization_id = users.organization_id AND pu.company_id = '' AND pu.user_type = '' AND pu.user_id = users.id)"
	requestedSQL  = "EXISTS (SELECT 1 FROM enrollment_requests r WHERE r.user_id = users.id)"
)

// classRow is a class as SQL reads it.
type classRow struct {
	ID             string
	CompanyID      *string
	UserType       string
	MFAEnrolled    bool   `gorm:"column:mfa_enrolled"`
	MFAFactorTypes string `gorm:"column:mfa_factor_types"`
	Requested      bool
	N              int
}

// classKey is what a class of many is told apart by.
type classKey struct {
	company, userType, types string
	enrolled                 bool
}

func (r *classRow) key() classKey {
	k := classKey{userType: r.UserType, types: r.MFAFactorTypes, enrolled: r.MFAEnrolled}
	if r.CompanyID != nil {
		k.company = *r.CompanyID
	}
	return k
}

func (r *classRow) toMFA() mfa.SimulationClass {
	k := r.key()
	c := mfa.SimulationClass{CompanyID: k.company, UserType: r.UserType, UserID: r.ID, MFAEnrolled: r.MFAEnrolled, Requested: r.Requested, Users: r.N}
	if r.MFAFactorTypes != "" {
		c.FactorTypes = strings.Split(r.MFAFactorTypes, ",")
	}
	return c
}

const classCols = "users.company_id, users.user_type, users.mfa_enrolled, users.mfa_factor_types"

func (s *Store) SimulationClasses(ctx context.Context, orgID string, sc mfa.PolicyScope) ([]mfa.SimulationClass, error) {
	where, args := simulationScope(orgID, sc)
	one := "SELECT users.id, " + classCols + ", " + requestedSQL + " AS requested, 1 AS n FROM users WHERE " + strings.Join(where, " AND ")
	if sc.Level() == mfa.LevelUser {
		// The one user of the scope, alone: the scope's policy is theirs.
		var alone []classRow
		if err := s.conn(ctx).Raw(one, args...).Scan(&alone).Error; err != nil {
			return nil, translate(err)
		}
		var out []mfa.SimulationClass
		for i := range alone {
			out = append(out, alone[i].toMFA())
		}
		return out, nil
	}
	groups, err := s.simulationGroups(ctx, orgID, sc, where, args)
	if err != nil {
		return nil, err
	}
	// The users counted alone: a user-scope policy (the policies' scope
	// index) or a request (few rows; each user by primary key).
	q := one + " AND users.id IN (SELECT p.user_id FROM policies p WHERE p.organization_id = ? AND p.company_id = '' AND p.user_type = '' AND p.user_id <> '')" +
		" UNION " + one + " AND users.id IN (SELECT r.user_id FROM enrollment_requests r)"
	var alone []classRow
	if err := s.conn(ctx).Raw(q, append(append(append([]any{}, args...), orgID), args...)...).Scan(&alone).Error; err != nil {
		return nil, translate(err)
	}
	n := map[classKey]int{}
	for i := range groups {
		n[groups[i].key()] += groups[i].N
	}
	var out []mfa.SimulationClass
	for i := range alone {
		n[alone[i].key()]--
		out = append(out, alone[i].toMFA())
	}
	for i := range groups {
		if groups[i].N = n[groups[i].key()]; groups[i].N > 0 {
			out = append(out, groups[i].toMFA())
		}
	}
	return out, nil
}

// simulationParts is how many statements at once count a large scope on
// MariaDB, each over a range of companies: MariaDB runs a statement on one
// core, so a million index entries take a statement about 0.7 s on a busy
// machine, and the parts share them out over the server's cores.
const simulationParts = 4

// simulationGroups counts the scope's users by class: in one statement, or
// on MariaDB for a scope of many companies in simulationParts statements
// at once over disjoint ranges of company ids (the index's next column;
// the boundaries from the organization's companies, in the same order).
// The parts are separate reads, so a user who changes company meanwhile
// may be counted twice or not at all: a dry run's estimate, not a balance.
func (s *Store) simulationGroups(ctx context.Context, orgID string, sc mfa.PolicyScope, where []string, args []any) ([]classRow, error) {
	var bounds []string
	if s.Dialect() == "mysql" && (sc.Level() == mfa.LevelOrganization || sc.Level() == mfa.LevelUserType) {
		var companies []string
		if err := s.conn(ctx).Raw("SELECT id FROM companies WHERE organization_id = ? ORDER BY id", orgID).Scan(&companies).Error; err != nil {
			return nil, translate(err)
		}
		k := min(simulationParts, len(companies))
		for i := 1; i < k; i++ {
			bounds = append(bounds, companies[i*len(companies)/k])
		}
	}
	if len(bounds) == 0 {
		var groups []classRow
		err := s.conn(ctx).Raw(simulationGroupsSQL(where), args...).Scan(&groups).Error
		return groups, translate(err)
	}
	parts := make([][]classRow, len(bounds)+1)
	errs := make([]error, len(bounds)+1)
	var wg sync.WaitGroup
	for i := range parts {
		w, a := append([]string{}, where...), append([]any{}, args...)
		switch {
		case i == 0:
			w, a = append(w, "(users.company_id IS NULL OR users.company_id < ?)"), append(a, bounds[0])
		case i == len(bounds):
			w, a = append(w, "users.company_id >= ?"), append(a, bounds[i-1])
		default:
			w, a = append(w, "users.company_id >= ? AND users.company_id < ?"), append(a, bounds[i-1], bounds[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = translate(s.conn(ctx).Raw(simulationGroupsSQL(w), a...).Scan(&parts[i]).Error)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(parts...), nil
}

// simulationGroupsSQL counts the users of the scope (where) by class
// (EXPLAINed by the benchmark: one range of ix_users_org_simulate).
func simulationGroupsSQL(where []string) string {
	return "SELECT " + classCols + ", COUNT(*) AS n FROM users WHERE " + strings.Join(where, " AND ") + " GROUP BY " + classCols
}

// classesWhere is the condition that a user row is in one of the classes.
func classesWhere(classes []mfa.SimulationClass) (string, []any) {
	var many, ids []string
	var args []any
	for _, c := range classes {
		if c.UserID != "" {
			ids = append(ids, c.UserID)
			continue
		}
		company := "users.company_id IS NULL"
		if c.CompanyID != "" {
			company, args = "users.company_id = ?", append(args, c.CompanyID)
		}
		many = append(many, "("+company+" AND users.user_type = ? AND users.mfa_enrolled = ? AND users.mfa_factor_types = ?)")
		args = append(args, c.UserType, c.MFAEnrolled, strings.Join(c.FactorTypes, ","))
	}
	var or []string
	if len(many) > 0 {
		or = append(or, "(("+strings.Join(many, " OR ")+") AND NOT "+userPolicySQL+" AND NOT "+requestedSQL+")")
	}
	if len(ids) > 0 {
		or, args = append(or, "users.id IN ?"), append(args, ids)
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

func (s *Store) SimulatedUsers(ctx context.Context, orgID string, sc mfa.PolicyScope, classes []mfa.SimulationClass, g mfa.SimulationGroup, p mfa.Page) (*mfa.Paged[mfa.User], error) {
	where, args := simulationScope(orgID, sc)
	cond, a := classesWhere(classes)
	where, args = append(where, cond), append(args, a...)
	ks := keyset{cols: userKeysets[mfa.UserOrderUsername], idExpr: "users.id"}
	if p.After != nil {
		cond, a, err := ks.after(p.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	var rows []user
	q := "SELECT users.* FROM users WHERE " + strings.Join(where, " AND ") + " ORDER BY " + ks.orderBy() + " LIMIT ?"
	if err := s.conn(ctx).Raw(q, append(args, limitOf(p))...).Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := &mfa.Paged[mfa.User]{TotalExact: true}
	if len(rows) > p.Limit {
		rows, out.More = rows[:p.Limit], true
	}
	for i := range rows {
		u := *rows[i].toMFA()
		out.Items = append(out.Items, u)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.SimulationOrderKey(g), Values: userSortValues(mfa.UserOrderUsername, &u), ID: u.ID})
	}
	return out, nil
}
