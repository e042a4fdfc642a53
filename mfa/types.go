package mfa

import (
	"slices"
	"time"
)

// Permission grants admin capabilities within the user's organization.
type Permission string

// Permissions. MANAGE_ORGANIZATION implies every other one.
const (
	PermissionManageOrganization Permission = "MANAGE_ORGANIZATION"
	PermissionManageUsers        Permission = "MANAGE_USERS"
	PermissionViewAudit          Permission = "VIEW_AUDIT"
)

// AllPermissions lists every permission, in display order.
var AllPermissions = []Permission{PermissionManageOrganization, PermissionManageUsers, PermissionViewAudit}

func (p Permission) valid() bool { return slices.Contains(AllPermissions, p) }

// UserStatus says whether a user may log in.
type UserStatus string

// User statuses.
const (
	UserActive      UserStatus = "ACTIVE"
	UserDeactivated UserStatus = "DEACTIVATED"
)

// Organization is a tenant: every user, company and policy belongs to one.
type Organization struct {
	ID        string
	Slug      string
	Name      string
	CreatedAt time.Time
}

// Company groups users inside an organization (a customer, a supplier, a
// department).
type Company struct {
	ID             string
	OrganizationID string
	Name           string
	CreatedAt      time.Time
}

// User is a person who logs in.
type User struct {
	ID             string
	OrganizationID string
	// CompanyID is empty when the user belongs to no company.
	CompanyID   string
	Username    string
	Email       string
	DisplayName string
	// UserType is free text per organization (case_manager, supplier...);
	// policies can target it.
	UserType     string
	Permissions  []Permission
	PasswordHash string
	Status       UserStatus
	// FailedAttempts counts wrong passwords and wrong second-factor codes
	// since the last success; LockedUntil is set when it reaches the limit.
	FailedAttempts int
	LockedUntil    *time.Time
	LastLoginAt    *time.Time
	LastMFAAt      *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// MFAEnrolled is true when the user has an active factor (filled by
	// reads; never written).
	MFAEnrolled bool
	// MFARequired is set by list reads (policy resolved in SQL); nil when
	// the read did not resolve it.
	MFARequired *bool
}

// Can reports whether the user holds p, directly or through
// MANAGE_ORGANIZATION.
func (u *User) Can(p Permission) bool {
	return slices.Contains(u.Permissions, p) || slices.Contains(u.Permissions, PermissionManageOrganization)
}

// IsAdmin reports whether the user holds any permission.
func (u *User) IsAdmin() bool { return len(u.Permissions) > 0 }

// Locked reports whether the user is locked out at now.
func (u *User) Locked(now time.Time) bool {
	return u.LockedUntil != nil && now.Before(*u.LockedUntil)
}

// Session is a logged-in browser or client. Only the token's SHA-256 is
// stored.
type Session struct {
	ID         string
	UserID     string
	TokenHash  string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// MFA is true when the session was established with a second factor.
	MFA bool
	// AMR says how the user authenticated (RFC 8176 values: AMRPassword...).
	AMR []string
}

// Viewer is who a request acts as.
type Viewer struct {
	User    User
	Session Session
}
