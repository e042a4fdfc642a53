package models

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/twofoldauth/twofold/mfa"
)

// A policy dry run in SQL: every user of the changed scope is resolved
// twice in one statement, by storedPolicy (before) and by a policyExpr
// whose scope level reads the simulated row from the one-row derived table
// sim (after). Nothing outside the scope can change, so the statement
// reads the scope's users only, through the users' (organization, company)
// or (organization, user type) indexes.

// simulation is the SQL of one dry run.
type simulation struct {
	before, after policyExpr
	// quote wraps a text expression in double quotes (the JSON string of
	// a factor type id), in the dialect.
	quote func(string) string
	// from is the FROM clause with sim and policyJoins; fromArgs its
	// arguments; where the scope's users and whereArgs theirs.
	from      string
	fromArgs  []any
	where     []string
	whereArgs []any
}

// scopeMatch is the scope's level alias and the condition that a user row
// is in the scope, on sim's columns.
func scopeMatch(sc mfa.PolicyScope) (alias, match string) {
	switch sc.Level() {
	case mfa.LevelUser:
		return "pu", "users.id = sim.user_id"
	case mfa.LevelCompanyUserType:
		return "pct", "users.company_id = sim.company_id AND users.user_type = sim.user_type"
	case mfa.LevelCompany:
		return "pc", "users.company_id = sim.company_id"
	case mfa.LevelUserType:
		return "pt", "users.user_type = sim.user_type"
	}
	return "po", "1 = 1"
}

func (s *Store) simulation(ch mfa.PolicyChange) *simulation {
	alias, match := scopeMatch(ch.Scope)
	x := &simulation{before: storedPolicy, after: policyExpr{alias: alias, match: match}}
	var mode, allowed any
	var enforceFrom any
	if a := ch.After; a != nil {
		if a.Mode != nil {
			mode = string(*a.Mode)
		}
		if a.AllowedFactorTypes != nil {
			b, _ := json.Marshal(a.AllowedFactorTypes)
			allowed = string(b)
		}
		if a.EnforceFrom != nil {
			enforceFrom = a.EnforceFrom.UTC()
		}
	}
	cols := "? AS now, ? AS mode, ? AS allowed_factor_types, ? AS enforce_from, ? AS company_id, ? AS user_type, ? AS user_id"
	x.quote = func(e string) string { return `('"' || ` + e + ` || '"')` }
	if s.Dialect() == "mysql" {
		// Typed, so the CASEs of sim and stored columns compare as times.
		// Text in the tables' collation, or a CASE of a sim and a stored
		// column has none and cannot be compared.
		text := func(name string) string { return "CONVERT(? USING utf8mb4) COLLATE utf8mb4_unicode_ci AS " + name }
		cols = "CAST(? AS DATETIME(6)) AS now, " + text("mode") + ", " + text("allowed_factor_types") +
			", CAST(? AS DATETIME(6)) AS enforce_from, " + text("company_id") + ", " + text("user_type") + ", " + text("user_id")
		x.quote = func(e string) string { return `CONCAT('"', ` + e + `, '"')` }
	}
	x.from = " FROM users CROSS JOIN (SELECT " + cols + ") sim" + policyJoins
	x.fromArgs = []any{ch.Now.UTC(), mode, allowed, enforceFrom, ch.Scope.CompanyID, ch.Scope.UserType, ch.Scope.UserID}
	x.where = []string{"users.organization_id = ?", "users.status = ?"}
	x.whereArgs = []any{ch.OrganizationID, string(mfa.UserActive)}
	sc := ch.Scope
	switch sc.Level() {
	case mfa.LevelUser:
		x.where, x.whereArgs = append(x.where, "users.id = ?"), append(x.whereArgs, sc.UserID)
	case mfa.LevelCompanyUserType:
		x.where, x.whereArgs = append(x.where, "users.company_id = ?", "users.user_type = ?"), append(x.whereArgs, sc.CompanyID, sc.UserType)
	case mfa.LevelCompany:
		x.where, x.whereArgs = append(x.where, "users.company_id = ?"), append(x.whereArgs, sc.CompanyID)
	case mfa.LevelUserType:
		x.where, x.whereArgs = append(x.where, "users.user_type = ?"), append(x.whereArgs, sc.UserType)
	}
	return x
}

// listed: the policy lets the factor type (an expression) be used, as
// mfa.EffectivePolicy.lists.
func (x *simulation) listed(p policyExpr, factorType string) string {
	allowed := p.coalesce("allowed_factor_types", "")
	return "(" + p.mode() + " <> '" + string(mfa.ModeDisabled) + "' AND (" + allowed + " IS NULL OR INSTR(" + allowed + ", " + x.quote(factorType) + ") > 0))"
}

const activeFactorOf = "SELECT 1 FROM enrollments e WHERE e.user_id = users.id AND e.status = '" + string(mfa.EnrollmentActive) + "' AND "

// held: the user has an active factor the policy allows (their login asks
// for it).
func (x *simulation) held(p policyExpr) string {
	return "(users.mfa_enrolled = 1 AND EXISTS (" + activeFactorOf + x.listed(p, "e.factor_type") + "))"
}

// enrol: the user's login asks them to enrol (planLogin: not disabled, no
// allowed factor, and required in force or asked by an admin).
func (x *simulation) enrol(p policyExpr) string {
	return "(" + p.mode() + " <> '" + string(mfa.ModeDisabled) + "' AND NOT " + x.held(p) + " AND (" + p.required("sim.now") +
		" OR EXISTS (SELECT 1 FROM enrollment_requests r WHERE r.user_id = users.id)))"
}

func (x *simulation) asked(p policyExpr) string { return "(" + x.held(p) + " OR " + x.enrol(p) + ")" }

// group is the condition that a user row is in g.
func (x *simulation) group(g mfa.SimulationGroup) string {
	b, a := x.before, x.after
	switch g {
	case mfa.SimNewlyRequired:
		return "(NOT " + b.required("sim.now") + " AND " + a.required("sim.now") + ")"
	case mfa.SimNewlyMustEnroll:
		return "(NOT " + x.enrol(b) + " AND " + x.enrol(a) + ")"
	case mfa.SimNoLongerAsked:
		return "(" + x.asked(b) + " AND NOT " + x.asked(a) + ")"
	case mfa.SimLoseFactorType:
		return "(users.mfa_enrolled = 1 AND EXISTS (" + activeFactorOf + x.listed(b, "e.factor_type") + " AND NOT " + x.listed(a, "e.factor_type") + "))"
	case mfa.SimNeedSeat:
		return "(users.mfa_enrolled = 0 AND NOT " + x.enrol(b) + " AND " + x.enrol(a) + ")"
	}
	return "1 = 0"
}

func (s *Store) SimulatePolicy(ctx context.Context, ch mfa.PolicyChange) (map[mfa.SimulationGroup]int, error) {
	x := s.simulation(ch)
	var sums []string
	for i, g := range mfa.SimulationGroups {
		sums = append(sums, "COALESCE(SUM(CASE WHEN "+x.group(g)+" THEN 1 ELSE 0 END), 0) AS g"+string(rune('0'+i)))
	}
	q := "SELECT " + strings.Join(sums, ", ") + x.from + " WHERE " + strings.Join(x.where, " AND ")
	rows, err := s.conn(ctx).Raw(q, append(append([]any{}, x.fromArgs...), x.whereArgs...)...).Rows()
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	counts := make([]int64, len(mfa.SimulationGroups))
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	out := map[mfa.SimulationGroup]int{}
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, translate(err)
		}
	}
	for i, g := range mfa.SimulationGroups {
		out[g] = int(counts[i])
	}
	return out, translate(rows.Err())
}

func (s *Store) SimulatedUsers(ctx context.Context, ch mfa.PolicyChange, g mfa.SimulationGroup, p mfa.Page) (*mfa.Paged[mfa.User], error) {
	x := s.simulation(ch)
	where, args := append(x.where, x.group(g)), x.whereArgs
	ks := keyset{cols: userKeysets[mfa.UserOrderUsername], idExpr: "users.id"}
	if p.After != nil {
		cond, a, err := ks.after(p.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	var rows []user
	q := "SELECT users.*" + x.from + " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + ks.orderBy() + " LIMIT ?"
	err := s.conn(ctx).Raw(q, append(append(append([]any{}, x.fromArgs...), args...), limitOf(p))...).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := &mfa.Paged[mfa.User]{TotalExact: true}
	if len(rows) > p.Limit {
		rows, out.More = rows[:p.Limit], true
	}
	for i := range rows {
		u := *rows[i].toMFA()
		u.MFAEnrolled = rows[i].MFAEnrolled
		out.Items = append(out.Items, u)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.SimulationOrderKey(g), Values: userSortValues(mfa.UserOrderUsername, &u), ID: u.ID})
	}
	return out, nil
}
