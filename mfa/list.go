package mfa

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Page asks for Limit rows of a sorted list after the row After points at
// (nil: from the start). Lists are read by keyset, not offset: a page costs
// the same at the millionth row, and a cursor stays valid while rows are
// inserted or deleted before it.
type Page struct {
	Limit int
	After *Cursor
}

// Cursor is a row's place in a sorted list: the values the list is sorted
// by, in order (nil for NULL), and the row's id, which breaks ties. Order
// names the list and sort order it belongs to, so a cursor of another list
// or order is refused rather than misread.
type Cursor struct {
	Order  string    `json:"o"`
	Values []*string `json:"v,omitempty"`
	ID     string    `json:"i"`
}

// Paged is one page of a list.
type Paged[T any] struct {
	Items []T
	// Cursors holds each item's cursor.
	Cursors []Cursor
	// More: rows follow the last item.
	More bool
	// Total counts the rows of the whole list. TotalExact is false when
	// counting exactly would scan (free-text search, the audit log) and
	// the count stopped at CountCap.
	Total      int
	TotalExact bool
}

// CountCap is where counts that would otherwise scan stop.
const CountCap = 10000

// ErrBadCursor is returned by a store for a cursor it cannot read.
var ErrBadCursor = errors.New("mfa: bad cursor")

// ListStore is the keyset-paged reads of Store. It is part of Store.
type ListStore interface {
	// Users lists an organization's users. Filters, sorts and counts on
	// mfaRequired resolve the policy in SQL at q.Now (the same rule as
	// resolve, proved by the models property test); every returned user
	// carries MFAEnrolled and MFARequired.
	Users(ctx context.Context, q UserQuery) (*Paged[User], error)
	// UserMFAStats counts, per user type, the organization's active users,
	// those for whom MFA is required at now, the enrolled, and the
	// required but not enrolled.
	UserMFAStats(ctx context.Context, orgID string, now time.Time) ([]MFAStat, error)
	// SyncMFAEnrolled sets the user's mfa_enrolled flag from their active
	// enrollments. Call it, in the same transaction, after any write that
	// activates or deletes an enrollment.
	SyncMFAEnrolled(ctx context.Context, userID string) error
	AuditEvents(ctx context.Context, q AuditQuery) (*Paged[AuditEvent], error)
	// CompaniesPage lists an organization's companies by name.
	CompaniesPage(ctx context.Context, orgID string, p Page) (*Paged[Company], error)
	// PoliciesPage lists an organization's policies narrowed to scopes with
	// filter's non-empty fields, most general first (organization, user
	// types, companies, companies with user types, users), by id within a
	// level.
	PoliciesPage(ctx context.Context, orgID string, filter PolicyScope, p Page) (*Paged[Policy], error)
}

// checkCursor refuses a cursor made for another list or order.
func checkCursor(p Page, order string) error {
	if p.After != nil && p.After.Order != order {
		return invalidInput("after", "after is a cursor of another list or order")
	}
	return nil
}

// listError maps a store's cursor error to BAD_USER_INPUT.
func listError(err error) error {
	if errors.Is(err, ErrBadCursor) {
		return invalidInput("after", "after is not a valid cursor")
	}
	return err
}

// UserOrderKey names a user sort order in cursors.
func UserOrderKey(order UserOrderField, desc bool) string {
	if desc {
		return "users/" + string(order) + "/desc"
	}
	return "users/" + string(order) + "/asc"
}

// AuditOrderKey names the audit log's order in cursors.
const AuditOrderKey = "audit/created_at/desc"

// CompanyOrderKey and PolicyOrderKey name those lists' orders in cursors.
const (
	CompanyOrderKey    = "companies/name"
	PolicyOrderKey     = "policies/level"
	EnrollmentOrderKey = "enrollments/created_at"
)

// pageEnrollments pages a short list held in memory (a user's factors) by the
// same keyset rule as the store: items after the cursor's (created at, id).
func pageEnrollments(es []Enrollment, p Page) (*Paged[Enrollment], error) {
	if err := checkCursor(p, EnrollmentOrderKey); err != nil {
		return nil, err
	}
	slices.SortStableFunc(es, func(a, b Enrollment) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	start := 0
	if p.After != nil {
		if len(p.After.Values) != 1 || p.After.Values[0] == nil {
			return nil, listError(ErrBadCursor)
		}
		at, err := time.Parse(time.RFC3339Nano, *p.After.Values[0])
		if err != nil {
			return nil, listError(ErrBadCursor)
		}
		start = len(es)
		for i, e := range es {
			if c := e.CreatedAt.Compare(at); c > 0 || (c == 0 && e.ID > p.After.ID) {
				start = i
				break
			}
		}
	}
	end := min(len(es), start+p.Limit)
	out := &Paged[Enrollment]{Items: es[start:end], More: end < len(es), Total: len(es), TotalExact: true}
	for _, e := range out.Items {
		at := e.CreatedAt.UTC().Format(time.RFC3339Nano)
		out.Cursors = append(out.Cursors, Cursor{Order: EnrollmentOrderKey, Values: []*string{&at}, ID: e.ID})
	}
	return out, nil
}

// EnrollmentsPage is Enrollments as one keyset page (a user has a handful of
// factors, paged in memory).
func (s *Service) EnrollmentsPage(ctx context.Context, v *Viewer, userID string, p Page) (*Paged[Enrollment], error) {
	es, err := s.Enrollments(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	return pageEnrollments(es, p)
}

// CompaniesPage lists the viewer's organization's companies by name.
func (s *Service) CompaniesPage(ctx context.Context, v *Viewer, p Page) (*Paged[Company], error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	if err := checkCursor(p, CompanyOrderKey); err != nil {
		return nil, err
	}
	out, err := s.store.CompaniesPage(ctx, v.User.OrganizationID, p)
	return out, listError(err)
}

// PoliciesPage lists the organization's policies (MANAGE_USERS sees them
// all: they explain what applies to the users they manage), narrowed to
// scopes with the filter's non-empty fields.
func (s *Service) PoliciesPage(ctx context.Context, v *Viewer, filter PolicyScope, p Page) (*Paged[Policy], error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	if err := checkCursor(p, PolicyOrderKey); err != nil {
		return nil, err
	}
	out, err := s.store.PoliciesPage(ctx, v.User.OrganizationID, filter, p)
	return out, listError(err)
}

// ResolvePolicy is the in-memory policy resolution login uses, over the
// policies given (those that do not match u are skipped). The store's SQL
// resolution (lists, filters, counts, stats) is tested against it.
func ResolvePolicy(policies []Policy, u *User, installed []string, cfg Config) *EffectivePolicy {
	return resolve(policies, u, installed, cfg)
}
