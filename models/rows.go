package models

import (
	"time"
)

// The row types. Ids are UUIDv7 strings; times are UTC. Indexes are named
// explicitly so migrations stay idempotent on both engines.

type organization struct {
	ID        string    `gorm:"primaryKey;size:36"`
	Slug      string    `gorm:"size:63;not null;uniqueIndex:ux_organizations_slug"`
	Name      string    `gorm:"size:128;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

type company struct {
	ID             string    `gorm:"primaryKey;size:36"`
	OrganizationID string    `gorm:"size:36;not null;uniqueIndex:ux_companies_org_name,priority:1"`
	Name           string    `gorm:"size:128;not null;uniqueIndex:ux_companies_org_name,priority:2"`
	CreatedAt      time.Time `gorm:"not null"`
}

type user struct {
	ID             string  `gorm:"primaryKey;size:36;index:ix_users_org_display,priority:3;index:ix_users_org_created,priority:3;index:ix_users_org_login,priority:3;index:ix_users_org_mfa_at,priority:3;index:ix_users_org_enrolled,priority:3;index:ix_users_org_username_id,priority:3;index:ix_users_org_email_id,priority:3"`
	OrganizationID string  `gorm:"size:36;not null;uniqueIndex:ux_users_org_username,priority:1;uniqueIndex:ux_users_org_email,priority:1;index:ix_users_org_type,priority:1;index:ix_users_org_display,priority:1;index:ix_users_org_created,priority:1;index:ix_users_org_login,priority:1;index:ix_users_org_mfa_at,priority:1;index:ix_users_org_enrolled,priority:1;index:ix_users_org_status,priority:1;index:ix_users_org_username_id,priority:1;index:ix_users_org_email_id,priority:1;index:ix_users_org_simulate,priority:1"`
	CompanyID      *string `gorm:"size:36;index:ix_users_company;index:ix_users_org_simulate,priority:3"`
	Username       string  `gorm:"size:64;not null;uniqueIndex:ux_users_org_username,priority:2;index:ix_users_org_username_id,priority:2"`
	Email          string  `gorm:"size:254;not null;uniqueIndex:ux_users_org_email,priority:2;index:ix_users_org_email_id,priority:2"`
	DisplayName    string  `gorm:"size:128;not null;index:ix_users_org_display,priority:2"`
	UserType       string  `gorm:"size:64;not null;index:ix_users_org_type,priority:2;index:ix_users_org_simulate,priority:4"`
	// Permissions is a comma list: a handful of values, read with the user.
	Permissions    string     `gorm:"size:255;not null"`
	PasswordHash   string     `gorm:"size:255;not null"`
	Status         string     `gorm:"size:16;not null;index:ix_users_org_status,priority:2;index:ix_users_org_simulate,priority:2"`
	FailedAttempts int        `gorm:"not null;default:0"`
	LockedUntil    *time.Time ``
	LastLoginAt    *time.Time `gorm:"index:ix_users_org_login,priority:2"`
	LastMFAAt      *time.Time `gorm:"column:last_mfa_at;index:ix_users_org_mfa_at,priority:2"`
	CreatedAt      time.Time  `gorm:"not null;index:ix_users_org_created,priority:2"`
	UpdatedAt      time.Time  `gorm:"not null"`
	// MFAEnrolled: the user has an active enrollment, kept by
	// SyncMFAEnrolled in the transaction of every activation or removal.
	MFAEnrolled bool `gorm:"column:mfa_enrolled;not null;default:false;index:ix_users_org_enrolled,priority:2;index:ix_users_org_status,priority:3;index:ix_users_org_simulate,priority:5"`
	// MFAFactorTypes are the types of the user's active enrollments,
	// sorted and comma separated (empty for none), kept with MFAEnrolled. A
	// policy dry run counts users by (company, user type, enrolled, factor
	// types) from ix_users_org_simulate alone (simulate.go).
	MFAFactorTypes string `gorm:"column:mfa_factor_types;size:255;not null;default:'';index:ix_users_org_simulate,priority:6"`
}

type session struct {
	ID         string    `gorm:"primaryKey;size:36"`
	UserID     string    `gorm:"size:36;not null;index:ix_sessions_user"`
	TokenHash  string    `gorm:"size:64;not null;uniqueIndex:ux_sessions_token"`
	IP         string    `gorm:"size:64;not null"`
	UserAgent  string    `gorm:"size:255;not null"`
	MFA        bool      `gorm:"column:mfa;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index:ix_sessions_expires"`
	// AMR is a comma list of RFC 8176 methods (see signing_key_store.go).
	AMR string `gorm:"column:amr;size:64;not null;default:''"`
}

// auditEvent rows are read newest or oldest first by (created_at, id), of
// an organization, of an actor or subject in it, or of every organization
// (retention and export): one index per access path, each ending in
// (created_at, id) so a page is one index range.
type auditEvent struct {
	ID             string    `gorm:"primaryKey;size:36;index:ix_audit_org_time_id,priority:3;index:ix_audit_org_actor_time,priority:4;index:ix_audit_org_subject_time,priority:4;index:ix_audit_time,priority:2"`
	OrganizationID string    `gorm:"size:36;not null;index:ix_audit_org_time_id,priority:1;index:ix_audit_org_actor_time,priority:1;index:ix_audit_org_subject_time,priority:1"`
	ActorID        string    `gorm:"size:36;not null;index:ix_audit_org_actor_time,priority:2"`
	SubjectID      string    `gorm:"size:36;not null;index:ix_audit_org_subject_time,priority:2"`
	Action         string    `gorm:"size:64;not null"`
	IP             string    `gorm:"size:64;not null"`
	UserAgent      string    `gorm:"size:255;not null"`
	Details        string    `gorm:"type:text"`
	CreatedAt      time.Time `gorm:"not null;index:ix_audit_org_time_id,priority:2;index:ix_audit_org_actor_time,priority:3;index:ix_audit_org_subject_time,priority:3;index:ix_audit_time,priority:1"`
}

func (organization) TableName() string { return "organizations" }
func (company) TableName() string      { return "companies" }
func (user) TableName() string         { return "users" }
func (session) TableName() string      { return "sessions" }
func (auditEvent) TableName() string   { return "audit_events" }

// allRows lists every table's row type, in creation order.
func allRows() []any {
	return []any{&organization{}, &company{}, &user{}, &session{}, &auditEvent{}, &enrollment{}, &loginTicket{}, &recoveryCode{}, &policy{}, &trustedBrowser{}, &enrollmentRequest{}, &loginThrottle{}, &outboxRow{}, &recoveryLink{}, &notificationJob{}, &signingKey{}, &notificationTemplate{}, &userSearchToken{}, &licenseRow{}, &licenseUsageRow{}, &billingContactRow{}, &graceStateRow{}}
}

type enrollment struct {
	ID         string `gorm:"primaryKey;size:36"`
	UserID     string `gorm:"size:36;not null;index:ix_enrollments_user_status,priority:1"`
	FactorType string `gorm:"size:64;not null;index:ix_enrollments_external,priority:1"`
	Label      string `gorm:"size:64;not null"`
	Status     string `gorm:"size:16;not null;index:ix_enrollments_user_status,priority:2"`
	State      []byte `gorm:"type:blob"`
	KeyID      string `gorm:"size:16;not null"`
	Version    int    `gorm:"not null;default:0"`
	// ExternalID is indexed by prefix-free equality (base64url credential
	// ids are at most ~1.4 KB; 255 covers real authenticators).
	ExternalID  string     `gorm:"size:255;not null;index:ix_enrollments_external,priority:2"`
	Metadata    string     `gorm:"type:text"`
	CreatedBy   string     `gorm:"size:36;not null"`
	CreatedAt   time.Time  `gorm:"not null"`
	ActivatedAt *time.Time ``
	LastUsedAt  *time.Time ``
	ExpiresAt   *time.Time ``
}

type loginTicket struct {
	ID                    string     `gorm:"primaryKey;size:36"`
	TokenHash             string     `gorm:"size:64;not null;uniqueIndex:ux_login_tickets_token"`
	OrganizationID        string     `gorm:"size:36;not null"`
	UserID                string     `gorm:"size:36;not null;index:ix_login_tickets_user"`
	Status                string     `gorm:"size:32;not null"`
	ChallengeEnrollmentID string     `gorm:"size:36;not null"`
	Challenge             []byte     `gorm:"type:blob"`
	ChallengeKeyID        string     `gorm:"size:16;not null"`
	CreatedAt             time.Time  `gorm:"not null"`
	ExpiresAt             time.Time  `gorm:"not null;index:ix_login_tickets_expires"`
	ConsumedAt            *time.Time ``
}

type recoveryCode struct {
	ID        uint       `gorm:"primaryKey;autoIncrement"`
	UserID    string     `gorm:"size:36;not null;uniqueIndex:ux_recovery_codes_user_hash,priority:1"`
	CodeHash  string     `gorm:"size:64;not null;uniqueIndex:ux_recovery_codes_user_hash,priority:2"`
	CreatedAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
}

func (enrollment) TableName() string   { return "enrollments" }
func (loginTicket) TableName() string  { return "login_tickets" }
func (recoveryCode) TableName() string { return "recovery_codes" }

type policy struct {
	ID             string  `gorm:"primaryKey;size:36"`
	OrganizationID string  `gorm:"size:36;not null;uniqueIndex:ux_policies_scope,priority:1"`
	CompanyID      string  `gorm:"size:36;not null;uniqueIndex:ux_policies_scope,priority:2"`
	UserType       string  `gorm:"size:64;not null;uniqueIndex:ux_policies_scope,priority:3"`
	UserID         string  `gorm:"size:36;not null;uniqueIndex:ux_policies_scope,priority:4"`
	Mode           *string `gorm:"size:16"`
	// AllowedFactorTypes is a JSON list; NULL inherits.
	AllowedFactorTypes *string `gorm:"type:text"`
	EnforceFrom        *time.Time
	TrustedBrowserDays *int
	MaxFailedAttempts  *int
	LockoutMinutes     *int
	AllowPasswordless  *bool
	// AllowSelfServiceRecovery NULL inherits (default on).
	AllowSelfServiceRecovery *bool
	// GracePeriodDays, MaxEnrollmentSkips: the enrolment grace; NULL
	// inherits. EnrollmentReminderDays is a JSON list of ints.
	GracePeriodDays        *int
	MaxEnrollmentSkips     *int
	EnrollmentReminderDays *string   `gorm:"type:text"`
	UpdatedBy              string    `gorm:"size:36;not null"`
	UpdatedAt              time.Time `gorm:"not null"`
}

type trustedBrowser struct {
	ID         string     `gorm:"primaryKey;size:36"`
	UserID     string     `gorm:"size:36;not null;index:ix_trusted_browsers_user"`
	TokenHash  string     `gorm:"size:64;not null;uniqueIndex:ux_trusted_browsers_token"`
	IP         string     `gorm:"size:64;not null"`
	UserAgent  string     `gorm:"size:255;not null"`
	CreatedAt  time.Time  `gorm:"not null"`
	ExpiresAt  time.Time  `gorm:"not null"`
	LastUsedAt *time.Time ``
}

type enrollmentRequest struct {
	ID          string    `gorm:"primaryKey;size:36"`
	UserID      string    `gorm:"size:36;not null;uniqueIndex:ux_enrollment_requests_user_type,priority:1"`
	FactorType  string    `gorm:"size:64;not null;uniqueIndex:ux_enrollment_requests_user_type,priority:2"`
	RequestedBy string    `gorm:"size:36;not null"`
	CreatedAt   time.Time `gorm:"not null"`
}

func (policy) TableName() string            { return "policies" }
func (trustedBrowser) TableName() string    { return "trusted_browsers" }
func (enrollmentRequest) TableName() string { return "enrollment_requests" }
