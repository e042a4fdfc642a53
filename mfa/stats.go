package mfa

import (
	"context"
	"slices"
)

// MFAStat is MFA adoption for one user type.
type MFAStat struct {
	UserType string
	Users    int
	// Required: MFA is required and enforced; Enrolled: has a factor;
	// Pending: required but not enrolled.
	Required int
	Enrolled int
	Pending  int
}

// MFAStats counts, per user type, active users for whom MFA is required,
// who are enrolled, and who are pending: one SQL query over the whole
// organization, the policy resolved in SQL.
func (s *Service) MFAStats(ctx context.Context, v *Viewer) ([]MFAStat, error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	out, err := s.store.UserMFAStats(ctx, v.User.OrganizationID, s.now())
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b MFAStat) int { return compareStrings(a.UserType, b.UserType) })
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FactorTypes lists the distinct factor types of enrollments, in order.
func FactorTypes(es []Enrollment) []string {
	types := []string{}
	for _, e := range es {
		if !slices.Contains(types, e.FactorType) {
			types = append(types, e.FactorType)
		}
	}
	return types
}

// OrganizationsByID, CompaniesByID and ActiveEnrollmentsByUser are batch
// reads for per-request dataloaders: whoever may see the users may see
// these, so they apply no further rule.
func (s *Service) OrganizationsByID(ctx context.Context, ids []string) (map[string]*Organization, error) {
	rows, err := s.store.OrganizationsByIDs(ctx, ids)
	out := make(map[string]*Organization, len(rows))
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, err
}

func (s *Service) CompaniesByID(ctx context.Context, ids []string) (map[string]*Company, error) {
	rows, err := s.store.CompaniesByIDs(ctx, ids)
	out := make(map[string]*Company, len(rows))
	for i := range rows {
		out[rows[i].ID] = &rows[i]
	}
	return out, err
}

func (s *Service) ActiveEnrollmentsByUser(ctx context.Context, userIDs []string) (map[string][]Enrollment, error) {
	rows, err := s.store.EnrollmentsOfUsers(ctx, userIDs, EnrollmentActive)
	out := make(map[string][]Enrollment, len(userIDs))
	for _, id := range userIDs {
		out[id] = []Enrollment{}
	}
	for _, e := range rows {
		out[e.UserID] = append(out[e.UserID], e)
	}
	return out, err
}

// EnrollmentRequestsOf lists the user's open enrollment requests (the
// caller could already see the user).
func (s *Service) EnrollmentRequestsOf(ctx context.Context, u *User) ([]EnrollmentRequest, error) {
	return s.store.EnrollmentRequests(ctx, u.ID)
}
