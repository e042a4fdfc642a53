package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
)

// --- the policy, resolved in SQL

// policyJoins joins, for each user row, the (at most five) policies whose
// scope matches it, one alias per level, each on the policies' unique scope
// index: pu user, pct company + user type, pc company, pt user type, po
// organization.
const policyJoins = ` LEFT JOIN policies pu ON pu.organization_id = users.organization_id AND pu.company_id = '' AND pu.user_type = '' AND pu.user_id = users.id` +
	` LEFT JOIN policies pct ON pct.organization_id = users.organization_id AND pct.company_id = users.company_id AND pct.user_type = users.user_type AND pct.user_id = '' AND users.user_type <> ''` +
	` LEFT JOIN policies pc ON pc.organization_id = users.organization_id AND pc.company_id = users.company_id AND pc.user_type = '' AND pc.user_id = ''` +
	` LEFT JOIN policies pt ON pt.organization_id = users.organization_id AND pt.company_id = '' AND pt.user_type = users.user_type AND pt.user_id = '' AND users.user_type <> ''` +
	` LEFT JOIN policies po ON po.organization_id = users.organization_id AND po.company_id = '' AND po.user_type = '' AND po.user_id = ''`

// policyLevels are the join aliases, most specific first.
var policyLevels = []string{"pu", "pct", "pc", "pt", "po"}

// policyExpr writes the SQL of the policy resolution over policyJoins
// (the lists, filters, sorts, counts and the grace state read it; a dry run
// judges classes of users in Go instead, simulate.go).
type policyExpr struct{}

// storedPolicy resolves the stored policies.
var storedPolicy = policyExpr{}

// col is the policy column of a level's alias.
func (x policyExpr) col(alias, name string) string { return alias + "." + name }

// coalesce is the value of the most specific level that sets the column.
func (x policyExpr) coalesce(name, fallback string) string {
	var parts []string
	for _, a := range policyLevels {
		parts = append(parts, x.col(a, name))
	}
	if fallback != "" {
		parts = append(parts, fallback)
	}
	return "COALESCE(" + strings.Join(parts, ", ") + ")"
}

// mode is the effective mode: the most specific scope that sets one, else
// OPTIONAL (mfa.resolve's default).
func (x policyExpr) mode() string { return x.coalesce("mode", "'"+string(mfa.ModeOptional)+"'") }

// enforceFrom is the effective enforceFrom: that of the most specific
// scope that sets its mode or its date (a scope that sets its mode without
// a date is in force at once, as in mfa.resolve).
func (x policyExpr) enforceFrom() string {
	var b strings.Builder
	b.WriteString("(CASE")
	for _, a := range policyLevels {
		b.WriteString(" WHEN " + x.col(a, "mode") + " IS NOT NULL OR " + x.col(a, "enforce_from") + " IS NOT NULL THEN " + x.col(a, "enforce_from"))
	}
	b.WriteString(" END)")
	return b.String()
}

// required is 1 when the effective mode is REQUIRED and in force at the
// now expression (a placeholder), without the licence switch.
func (x policyExpr) required(now string) string {
	return "(" + x.mode() + " = '" + string(mfa.ModeRequired) + "' AND COALESCE(" + x.enforceFrom() + " <= " + now + ", 1))"
}

// policyModeSQL and policyEnforceFromSQL are the stored policies' mode and
// enforceFrom.
var (
	policyModeSQL        = storedPolicy.mode()
	policyEnforceFromSQL = storedPolicy.enforceFrom()
)

// mfaRequiredSQL is 1 when MFA is required for the user row and in force
// at the one bound argument (now), else 0: the SQL form of
// mfa.EffectivePolicy.Enforced over mfa.resolve. It needs policyJoins.
var mfaRequiredSQL = "(" + storedPolicy.required("?") + mfaOnSQL + ")"

// mfaOnSQL: MFA is required of nobody while the organization has no MFA
// subscription or switched it off (the licence row; none: on), as
// mfa.Service.effectivePolicy overrides the scopes.
const mfaOnSQL = " AND NOT EXISTS (SELECT 1 FROM licenses lic WHERE lic.organization_id = users.organization_id AND (lic.mfa_enabled = 0 OR lic.mfa_subscribed = 0))"

// ResolvedPolicy is a user's effective mode and enforcement as SQL
// resolves them.
type ResolvedPolicy struct {
	UserID      string
	Mode        mfa.MfaMode
	EnforceFrom *time.Time
	Required    bool
}

// ResolvePolicies resolves, in one query, the policy of every user of the
// organization at now (the same expressions the lists, filters, sorts and
// counts use).
func (s *Store) ResolvePolicies(ctx context.Context, orgID string, now time.Time) ([]ResolvedPolicy, error) {
	rows, err := s.conn(ctx).Raw("SELECT users.id, "+policyModeSQL+", "+policyEnforceFromSQL+", "+mfaRequiredSQL+
		" FROM users"+policyJoins+" WHERE users.organization_id = ? ORDER BY users.id", now.UTC(), orgID).Rows()
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []ResolvedPolicy
	for rows.Next() {
		var r ResolvedPolicy
		var mode string
		var ef any
		var req bool
		if err := rows.Scan(&r.UserID, &mode, &ef, &req); err != nil {
			return nil, err
		}
		r.Mode, r.Required = mfa.MfaMode(mode), req
		if r.EnforceFrom, err = scannedTime(ef); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// scannedTime reads a time from an expression column: MariaDB gives a
// time, SQLite (which knows no type for a CASE) the text it stored.
func scannedTime(v any) (*time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = x
	case []byte:
		return scannedTime(string(x))
	case string:
		var err error
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
			if t, err = time.Parse(layout, x); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("models: time %q: %w", x, err)
		}
	default:
		return nil, fmt.Errorf("models: time of type %T", v)
	}
	t = t.UTC()
	return &t, nil
}

// --- users

// userKeysets are the sort orders of a user list. Each walks an index
// (organization_id, column, id), username and email included: MariaDB
// does not walk their unique (organization_id, column) indexes for ORDER BY
// column, id (TestUserListsWalkAnIndex).
var userKeysets = map[mfa.UserOrderField][]keyCol{
	mfa.UserOrderUsername:    {{expr: "users.username"}},
	mfa.UserOrderDisplayName: {{expr: "users.display_name"}},
	mfa.UserOrderEmail:       {{expr: "users.email"}},
	mfa.UserOrderCreatedAt:   {{expr: "users.created_at", kind: keyTime}},
	mfa.UserOrderLastLoginAt: {{expr: "users.last_login_at", kind: keyTime, nullable: true}},
	mfa.UserOrderLastMFAAt:   {{expr: "users.last_mfa_at", kind: keyTime, nullable: true}},
	mfa.UserOrderMFAEnrolled: {{expr: "users.mfa_enrolled", kind: keyBool}},
}

// userSortValues are u's values for the sort order, as its cursor holds
// them.
func userSortValues(order mfa.UserOrderField, u *mfa.User) []*string {
	switch order {
	case mfa.UserOrderDisplayName:
		return []*string{cursorString(u.DisplayName)}
	case mfa.UserOrderEmail:
		return []*string{cursorString(u.Email)}
	case mfa.UserOrderCreatedAt:
		return []*string{cursorTime(&u.CreatedAt)}
	case mfa.UserOrderLastLoginAt:
		return []*string{cursorTime(u.LastLoginAt)}
	case mfa.UserOrderLastMFAAt:
		return []*string{cursorTime(u.LastMFAAt)}
	case mfa.UserOrderMFAEnrolled:
		return []*string{cursorBool(u.MFAEnrolled)}
	case mfa.UserOrderMFARequired:
		return []*string{cursorBool(u.MFARequired != nil && *u.MFARequired), cursorString(u.Username)}
	}
	return []*string{cursorString(u.Username)}
}

// userWhere is the WHERE of a user list (without the keyset) and its
// arguments; search says a free-text search narrows it (so its count would
// scan).
func (s *Store) userWhere(q mfa.UserQuery) (where []string, args []any, search bool) {
	where, args = []string{"users.organization_id = ?"}, []any{q.OrganizationID}
	f := q.Filter
	if cond, a, ok := s.searchCondition(q.OrganizationID, f.Search); ok {
		where, args, search = append(where, cond), append(args, a...), true
	}
	if f.CompanyID != "" {
		where, args = append(where, "users.company_id = ?"), append(args, f.CompanyID)
	}
	if f.UserType != "" {
		where, args = append(where, "users.user_type = ?"), append(args, f.UserType)
	}
	if f.Status != "" {
		where, args = append(where, "users.status = ?"), append(args, string(f.Status))
	}
	if f.MFAEnrolled != nil {
		where, args = append(where, "users.mfa_enrolled = ?"), append(args, *f.MFAEnrolled)
	}
	if f.FactorType != "" {
		where, args = append(where, "EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = users.id AND e.status = 'ACTIVE' AND e.factor_type = ?)"), append(args, f.FactorType)
	}
	if f.MFARequired != nil {
		where, args = append(where, mfaRequiredSQL+" = ?"), append(args, q.Now.UTC(), *f.MFARequired)
	}
	gw, ga := s.graceUserFilters(f, q.Now)
	where, args = append(where, gw...), append(args, ga...)
	return where, args, search
}

// userRow is a user row with its resolved requirement.
type userRow struct {
	User        user `gorm:"embedded"`
	MFARequired bool `gorm:"column:mfa_required_now;->"`
}

func (s *Store) Users(ctx context.Context, q mfa.UserQuery) (*mfa.Paged[mfa.User], error) {
	where, args, search := s.userWhere(q)
	from := " FROM users"
	if q.Filter.MFARequired != nil || q.Filter.MFAOverdue != nil || q.Filter.MFADeadlineBefore != nil {
		from += policyJoins
	}
	out := &mfa.Paged[mfa.User]{}
	if err := s.count(ctx, from, where, args, search, &out.Total, &out.TotalExact); err != nil {
		return nil, err
	}
	var rows []userRow
	if q.OrderBy == mfa.UserOrderMFARequired {
		var err error
		if rows, err = s.usersByRequirement(ctx, q, where, args); err != nil {
			return nil, err
		}
	} else {
		cols, ok := userKeysets[q.OrderBy]
		if !ok {
			cols = userKeysets[mfa.UserOrderUsername]
		}
		ks := keyset{cols: cols, idExpr: "users.id", desc: q.Desc}
		var err error
		if rows, err = s.userPage(ctx, q, ks, where, args, limitOf(q.Page)); err != nil {
			return nil, err
		}
	}
	if len(rows) > q.Page.Limit {
		rows, out.More = rows[:q.Page.Limit], true
	}
	order := mfa.UserOrderKey(q.OrderBy, q.Desc)
	for i := range rows {
		u := *rows[i].User.toMFA()
		u.MFAEnrolled = rows[i].User.MFAEnrolled
		req := rows[i].MFARequired
		u.MFARequired = &req
		out.Items = append(out.Items, u)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: order, Values: userSortValues(q.OrderBy, &u), ID: u.ID})
	}
	return out, nil
}

// userPage reads up to limit users after q's cursor in ks's order, with
// their requirement resolved.
func (s *Store) userPage(ctx context.Context, q mfa.UserQuery, ks keyset, where []string, args []any, limit int) ([]userRow, error) {
	where, args = append([]string{}, where...), append([]any{}, args...)
	if q.Page.After != nil {
		cond, a, err := ks.after(q.Page.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	query, args := userPageSQL(q, ks, where, args, limit)
	var rows []userRow
	err := s.conn(ctx).Raw(query, args...).Scan(&rows).Error
	return rows, translate(err)
}

// userPageSQL is the statement of one user page (EXPLAINed by a test).
func userPageSQL(q mfa.UserQuery, ks keyset, where []string, args []any, limit int) (string, []any) {
	return "SELECT users.*, " + mfaRequiredSQL + " AS mfa_required_now FROM users" + policyJoins +
			" WHERE " + strings.Join(where, " AND ") + " ORDER BY " + ks.orderBy() + " LIMIT ?",
		append(append([]any{q.Now.UTC()}, args...), limit)
}

// usersByRequirement sorts by requirement, then username: the not
// required, then the required (the groups swapped when descending; each
// group by username ascending either way), each group read in username
// order from the index, so no page sorts the organization.
func (s *Store) usersByRequirement(ctx context.Context, q mfa.UserQuery, where []string, args []any) ([]userRow, error) {
	groups := []bool{false, true}
	if q.Desc {
		groups = []bool{true, false}
	}
	after := q.Page.After
	if after != nil {
		if len(after.Values) != 2 || after.Values[0] == nil {
			return nil, mfa.ErrBadCursor
		}
		v, err := keyCol{kind: keyBool}.parse(after.Values[0])
		if err != nil {
			return nil, err
		}
		if v.(bool) == groups[1] {
			groups = groups[1:]
		}
	}
	var out []userRow
	for _, g := range groups {
		sub := q
		sub.Page.After = nil
		if after != nil {
			sub.Page.After = &mfa.Cursor{Values: after.Values[1:], ID: after.ID}
			after = nil
		}
		w := append(append([]string{}, where...), mfaRequiredSQL+" = ?")
		a := append(append([]any{}, args...), q.Now.UTC(), g)
		ks := keyset{cols: userKeysets[mfa.UserOrderUsername], idExpr: "users.id"}
		rows, err := s.userPage(ctx, sub, ks, w, a, limitOf(q.Page)-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if len(out) >= limitOf(q.Page) {
			break
		}
	}
	return out, nil
}

// count counts the rows of a list: exactly, or, when search says an exact
// count would scan, up to mfa.CountCap (TotalExact false beyond it).
func (s *Store) count(ctx context.Context, from string, where []string, args []any, search bool, total *int, exact *bool) error {
	q := "SELECT COUNT(*)" + from + " WHERE " + strings.Join(where, " AND ")
	if search {
		q = "SELECT COUNT(*) FROM (SELECT 1 AS one" + from + " WHERE " + strings.Join(where, " AND ") + " LIMIT ?) capped"
		args = append(append([]any{}, args...), mfa.CountCap+1)
	}
	var n int64
	if err := s.conn(ctx).Raw(q, args...).Scan(&n).Error; err != nil {
		return translate(err)
	}
	*total, *exact = int(n), true
	if search && n > mfa.CountCap {
		*total, *exact = mfa.CountCap, false
	}
	return nil
}

func (s *Store) UserMFAStats(ctx context.Context, orgID string, now time.Time) ([]mfa.MFAStat, error) {
	var rows []struct {
		UserType string
		Users    int
		Required int
		Enrolled int
		Pending  int
	}
	err := s.conn(ctx).Raw("SELECT user_type, COUNT(*) AS users, SUM(req) AS required, SUM(mfa_enrolled) AS enrolled,"+
		" SUM(CASE WHEN req = 1 AND mfa_enrolled = 0 THEN 1 ELSE 0 END) AS pending FROM ("+
		"SELECT users.user_type, CASE WHEN users.mfa_enrolled THEN 1 ELSE 0 END AS mfa_enrolled, CASE WHEN "+mfaRequiredSQL+" THEN 1 ELSE 0 END AS req"+
		" FROM users"+policyJoins+" WHERE users.organization_id = ? AND users.status = ?) resolved GROUP BY user_type ORDER BY user_type",
		now.UTC(), orgID, string(mfa.UserActive)).Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.MFAStat, len(rows))
	for i, r := range rows {
		out[i] = mfa.MFAStat{UserType: r.UserType, Users: r.Users, Required: r.Required, Enrolled: r.Enrolled, Pending: r.Pending}
	}
	return out, nil
}

// SyncMFAEnrolled recomputes the flag and the factor types from the
// enrollments, so whatever the write was (activation, removal, reset) they
// follow it.
func (s *Store) SyncMFAEnrolled(ctx context.Context, userID string) error {
	return syncMFAEnrolled(s.conn(ctx), "users.id = ?", userID)
}

func syncMFAEnrolled(db *gorm.DB, where string, args ...any) error {
	active := string(mfa.EnrollmentActive)
	return translate(db.Exec("UPDATE users SET mfa_enrolled = CASE WHEN EXISTS (SELECT 1 FROM enrollments e WHERE e.user_id = users.id AND e.status = ?) THEN 1 ELSE 0 END,"+
		" mfa_factor_types = "+factorTypesOfSQL(db.Dialector.Name())+" WHERE "+where,
		append([]any{active, active}, args...)...).Error)
}

// factorTypesOfSQL is the users.mfa_factor_types of a user row: the types
// of its active enrollments (one bound argument: the active status),
// distinct, sorted, comma separated (empty for none).
func factorTypesOfSQL(dialect string) string {
	agg := "group_concat(DISTINCT e.factor_type ORDER BY e.factor_type)"
	if dialect == "mysql" {
		agg = "GROUP_CONCAT(DISTINCT e.factor_type ORDER BY e.factor_type SEPARATOR ',')"
	}
	return "COALESCE((SELECT " + agg + " FROM enrollments e WHERE e.user_id = users.id AND e.status = ?), '')"
}

// --- audit

func (s *Store) AuditEvents(ctx context.Context, q mfa.AuditQuery) (*mfa.Paged[mfa.AuditEvent], error) {
	where, args := []string{"organization_id = ?"}, []any{q.OrganizationID}
	f := q.Filter
	if f.UserID != "" {
		where, args = append(where, "(actor_id = ? OR subject_id = ?)"), append(args, f.UserID, f.UserID)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, string(f.Action))
	}
	if f.From != nil {
		where, args = append(where, "created_at >= ?"), append(args, f.From.UTC())
	}
	if f.To != nil {
		where, args = append(where, "created_at < ?"), append(args, f.To.UTC())
	}
	out := &mfa.Paged[mfa.AuditEvent]{}
	// The log grows by millions: its count stops at the cap.
	if err := s.count(ctx, " FROM audit_events", where, args, true, &out.Total, &out.TotalExact); err != nil {
		return nil, err
	}
	ks := keyset{cols: []keyCol{{expr: "created_at", kind: keyTime}}, idExpr: "id", desc: true}
	if q.Page.After != nil {
		cond, a, err := ks.after(q.Page.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	var rows []auditEvent
	err := s.conn(ctx).Where(strings.Join(where, " AND "), args...).Order(ks.orderBy()).Limit(limitOf(q.Page)).Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	if len(rows) > q.Page.Limit {
		rows, out.More = rows[:q.Page.Limit], true
	}
	for _, r := range rows {
		e := r.toMFA()
		out.Items = append(out.Items, e)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.AuditOrderKey, Values: []*string{cursorTime(&e.CreatedAt)}, ID: e.ID})
	}
	return out, nil
}

// --- companies and policies

func (s *Store) CompaniesPage(ctx context.Context, orgID string, p mfa.Page) (*mfa.Paged[mfa.Company], error) {
	where, args := []string{"organization_id = ?"}, []any{orgID}
	out := &mfa.Paged[mfa.Company]{}
	if err := s.count(ctx, " FROM companies", where, args, false, &out.Total, &out.TotalExact); err != nil {
		return nil, err
	}
	ks := keyset{cols: []keyCol{{expr: "name"}}, idExpr: "id"}
	if p.After != nil {
		cond, a, err := ks.after(p.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	var rows []company
	if err := s.conn(ctx).Where(strings.Join(where, " AND "), args...).Order(ks.orderBy()).Limit(limitOf(p)).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	if len(rows) > p.Limit {
		rows, out.More = rows[:p.Limit], true
	}
	for i := range rows {
		c := *rows[i].toMFA()
		out.Items = append(out.Items, c)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.CompanyOrderKey, Values: []*string{cursorString(c.Name)}, ID: c.ID})
	}
	return out, nil
}

func (s *Store) PoliciesPage(ctx context.Context, orgID string, filter mfa.PolicyScope, p mfa.Page) (*mfa.Paged[mfa.Policy], error) {
	where, args := []string{"organization_id = ?"}, []any{orgID}
	for col, v := range map[string]string{"user_id": filter.UserID, "company_id": filter.CompanyID, "user_type": filter.UserType} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	out := &mfa.Paged[mfa.Policy]{}
	if err := s.count(ctx, " FROM policies", where, args, false, &out.Total, &out.TotalExact); err != nil {
		return nil, err
	}
	// The scope is unique, so it orders the policies on its own; the id
	// only completes the keyset.
	ks := keyset{cols: []keyCol{{expr: "user_id"}, {expr: "company_id"}, {expr: "user_type"}}, idExpr: "id"}
	if p.After != nil {
		cond, a, err := ks.after(p.After)
		if err != nil {
			return nil, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	var rows []policy
	if err := s.conn(ctx).Where(strings.Join(where, " AND "), args...).Order(ks.orderBy()).Limit(limitOf(p)).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	if len(rows) > p.Limit {
		rows, out.More = rows[:p.Limit], true
	}
	for i := range rows {
		pol := rows[i].toMFA()
		out.Items = append(out.Items, pol)
		out.Cursors = append(out.Cursors, mfa.Cursor{Order: mfa.PolicyOrderKey,
			Values: []*string{cursorString(pol.Scope.UserID), cursorString(pol.Scope.CompanyID), cursorString(pol.Scope.UserType)}, ID: pol.ID})
	}
	return out, nil
}
