package models

import "time"

// The row types as they were when the schema went under versioned
// migrations (migration 00001, the baseline), frozen: a database made by
// an older release, which ran GORM AutoMigrate at every start instead, is
// brought to exactly this shape by AutoMigrate of these types, recorded as
// being at version 1, and migrated onwards from there (see
// adoptAutoMigrated). Never edit them; change the live row types and run
// `make migration NAME=...` instead.

type baselineOrganization struct {
	ID        string    `gorm:"primaryKey;size:36"`
	Slug      string    `gorm:"size:63;not null;uniqueIndex:ux_organizations_slug"`
	Name      string    `gorm:"size:128;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

type baselineCompany struct {
	ID             string    `gorm:"primaryKey;size:36"`
	OrganizationID string    `gorm:"size:36;not null;uniqueIndex:ux_companies_org_name,priority:1"`
	Name           string    `gorm:"size:128;not null;uniqueIndex:ux_companies_org_name,priority:2"`
	CreatedAt      time.Time `gorm:"not null"`
}

type baselineUser struct {
	ID             string     `gorm:"primaryKey;size:36;index:ix_users_org_display,priority:3;index:ix_users_org_created,priority:3;index:ix_users_org_login,priority:3;index:ix_users_org_mfa_at,priority:3;index:ix_users_org_enrolled,priority:3;index:ix_users_org_username_id,priority:3;index:ix_users_org_email_id,priority:3"`
	OrganizationID string     `gorm:"size:36;not null;uniqueIndex:ux_users_org_username,priority:1;uniqueIndex:ux_users_org_email,priority:1;index:ix_users_org_type,priority:1;index:ix_users_org_display,priority:1;index:ix_users_org_created,priority:1;index:ix_users_org_login,priority:1;index:ix_users_org_mfa_at,priority:1;index:ix_users_org_enrolled,priority:1;index:ix_users_org_status,priority:1;index:ix_users_org_username_id,priority:1;index:ix_users_org_email_id,priority:1"`
	CompanyID      *string    `gorm:"size:36;index:ix_users_company"`
	Username       string     `gorm:"size:64;not null;uniqueIndex:ux_users_org_username,priority:2;index:ix_users_org_username_id,priority:2"`
	Email          string     `gorm:"size:254;not null;uniqueIndex:ux_users_org_email,priority:2;index:ix_users_org_email_id,priority:2"`
	DisplayName    string     `gorm:"size:128;not null;index:ix_users_org_display,priority:2"`
	UserType       string     `gorm:"size:64;not null;index:ix_users_org_type,priority:2"`
	Permissions    string     `gorm:"size:255;not null"`
	PasswordHash   string     `gorm:"size:255;not null"`
	Status         string     `gorm:"size:16;not null;index:ix_users_org_status,priority:2"`
	FailedAttempts int        `gorm:"not null;default:0"`
	LockedUntil    *time.Time ``
	LastLoginAt    *time.Time `gorm:"index:ix_users_org_login,priority:2"`
	LastMFAAt      *time.Time `gorm:"column:last_mfa_at;index:ix_users_org_mfa_at,priority:2"`
	CreatedAt      time.Time  `gorm:"not null;index:ix_users_org_created,priority:2"`
	UpdatedAt      time.Time  `gorm:"not null"`
	MFAEnrolled    bool       `gorm:"column:mfa_enrolled;not null;default:false;index:ix_users_org_enrolled,priority:2;index:ix_users_org_status,priority:3"`
}

type baselineSession struct {
	ID         string    `gorm:"primaryKey;size:36"`
	UserID     string    `gorm:"size:36;not null;index:ix_sessions_user"`
	TokenHash  string    `gorm:"size:64;not null;uniqueIndex:ux_sessions_token"`
	IP         string    `gorm:"size:64;not null"`
	UserAgent  string    `gorm:"size:255;not null"`
	MFA        bool      `gorm:"column:mfa;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index:ix_sessions_expires"`
	AMR        string    `gorm:"column:amr;size:64;not null;default:''"`
}

type baselineAuditEvent struct {
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

type baselineEnrollment struct {
	ID          string     `gorm:"primaryKey;size:36"`
	UserID      string     `gorm:"size:36;not null;index:ix_enrollments_user_status,priority:1"`
	FactorType  string     `gorm:"size:64;not null;index:ix_enrollments_external,priority:1"`
	Label       string     `gorm:"size:64;not null"`
	Status      string     `gorm:"size:16;not null;index:ix_enrollments_user_status,priority:2"`
	State       []byte     `gorm:"type:blob"`
	KeyID       string     `gorm:"size:16;not null"`
	Version     int        `gorm:"not null;default:0"`
	ExternalID  string     `gorm:"size:255;not null;index:ix_enrollments_external,priority:2"`
	Metadata    string     `gorm:"type:text"`
	CreatedBy   string     `gorm:"size:36;not null"`
	CreatedAt   time.Time  `gorm:"not null"`
	ActivatedAt *time.Time ``
	LastUsedAt  *time.Time ``
	ExpiresAt   *time.Time ``
}

type baselineLoginTicket struct {
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

type baselineRecoveryCode struct {
	ID        uint       `gorm:"primaryKey;autoIncrement"`
	UserID    string     `gorm:"size:36;not null;uniqueIndex:ux_recovery_codes_user_hash,priority:1"`
	CodeHash  string     `gorm:"size:64;not null;uniqueIndex:ux_recovery_codes_user_hash,priority:2"`
	CreatedAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time ``
}

type baselinePolicy struct {
	ID                       string  `gorm:"primaryKey;size:36"`
	OrganizationID           string  `gorm:"size:36;not null;uniqueIndex:ux_policies_scope,priority:1"`
	CompanyID                string  `gorm:"size:36;not null;uniqueIndex:ux_policies_scope,priority:2"`
	UserType                 string  `gorm:"size:64;not null;uniqueIndex:ux_policies_scope,priority:3"`
	UserID                   string  `gorm:"size:36;not null;uniqueIndex:ux_policies_scope,priority:4"`
	Mode                     *string `gorm:"size:16"`
	AllowedFactorTypes       *string `gorm:"type:text"`
	EnforceFrom              *time.Time
	TrustedBrowserDays       *int
	MaxFailedAttempts        *int
	LockoutMinutes           *int
	AllowPasswordless        *bool
	AllowSelfServiceRecovery *bool
	UpdatedBy                string    `gorm:"size:36;not null"`
	UpdatedAt                time.Time `gorm:"not null"`
}

type baselineTrustedBrowser struct {
	ID         string     `gorm:"primaryKey;size:36"`
	UserID     string     `gorm:"size:36;not null;index:ix_trusted_browsers_user"`
	TokenHash  string     `gorm:"size:64;not null;uniqueIndex:ux_trusted_browsers_token"`
	IP         string     `gorm:"size:64;not null"`
	UserAgent  string     `gorm:"size:255;not null"`
	CreatedAt  time.Time  `gorm:"not null"`
	ExpiresAt  time.Time  `gorm:"not null"`
	LastUsedAt *time.Time ``
}

type baselineEnrollmentRequest struct {
	ID          string    `gorm:"primaryKey;size:36"`
	UserID      string    `gorm:"size:36;not null;uniqueIndex:ux_enrollment_requests_user_type,priority:1"`
	FactorType  string    `gorm:"size:64;not null;uniqueIndex:ux_enrollment_requests_user_type,priority:2"`
	RequestedBy string    `gorm:"size:36;not null"`
	CreatedAt   time.Time `gorm:"not null"`
}

type baselineLoginThrottle struct {
	NameHash       string     `gorm:"primaryKey;size:64"`
	FailedAttempts int        `gorm:"not null;default:0"`
	LockedUntil    *time.Time ``
	UpdatedAt      time.Time  `gorm:"not null;index:ix_login_throttles_updated"`
}

type baselineOutboxRow struct {
	ID             string     `gorm:"primaryKey;size:36"`
	OrganizationID string     `gorm:"size:36;not null;index:ix_outbox_org_created,priority:1"`
	UserID         string     `gorm:"size:36;not null;index:ix_outbox_user"`
	To             string     `gorm:"column:to_address;size:254;not null"`
	Event          string     `gorm:"size:64;not null"`
	Data           string     `gorm:"type:text;not null"`
	Status         string     `gorm:"size:16;not null;index:ix_outbox_due,priority:1"`
	Attempts       int        `gorm:"not null;default:0"`
	NextAttemptAt  time.Time  `gorm:"not null;index:ix_outbox_due,priority:2"`
	LastError      string     `gorm:"size:1024;not null"`
	CreatedAt      time.Time  `gorm:"not null;index:ix_outbox_org_created,priority:2"`
	SentAt         *time.Time ``
	ClaimedBy      string     `gorm:"size:32;not null;default:''"`
}

type baselineRecoveryLink struct {
	ID             string     `gorm:"primaryKey;size:36"`
	Purpose        string     `gorm:"size:16;not null;index:ix_recovery_links_subject,priority:2"`
	OrganizationID string     `gorm:"size:36;not null"`
	Subject        string     `gorm:"size:64;not null;index:ix_recovery_links_subject,priority:1"`
	UserID         string     `gorm:"size:36;not null;index:ix_recovery_links_user"`
	TokenHash      string     `gorm:"size:64;not null;uniqueIndex:ux_recovery_links_token"`
	CreatedAt      time.Time  `gorm:"not null;index:ix_recovery_links_subject,priority:3"`
	ExpiresAt      time.Time  `gorm:"not null;index:ix_recovery_links_expires"`
	UsedAt         *time.Time ``
}

type baselineNotificationJob struct {
	ID             string    `gorm:"primaryKey;size:36"`
	OrganizationID string    `gorm:"size:36;not null"`
	Kind           string    `gorm:"size:32;not null"`
	Data           string    `gorm:"type:text;not null"`
	Cursor         string    `gorm:"column:after_user_id;size:36;not null"`
	CreatedAt      time.Time `gorm:"not null"`
}

type baselineSigningKey struct {
	ID          string    `gorm:"primaryKey;size:36"`
	Generation  int64     `gorm:"not null;uniqueIndex:ux_signing_keys_generation"`
	Algorithm   string    `gorm:"size:16;not null"`
	PublicKey   []byte    `gorm:"type:blob;not null"`
	PrivateKey  []byte    `gorm:"type:blob;not null"`
	KeyID       string    `gorm:"size:16;not null"`
	CreatedAt   time.Time `gorm:"not null"`
	NotBefore   time.Time `gorm:"not null"`
	SignUntil   time.Time `gorm:"not null"`
	VerifyUntil time.Time `gorm:"not null"`
}

type baselineNotificationTemplate struct {
	OrganizationID string    `gorm:"primaryKey;size:36"`
	Event          string    `gorm:"primaryKey;size:64"`
	Subject        string    `gorm:"type:mediumtext;not null"`
	TextPart       string    `gorm:"type:mediumtext;not null"`
	HTMLPart       string    `gorm:"column:html_part;type:mediumtext;not null"`
	Enabled        bool      `gorm:"not null"`
	UpdatedBy      string    `gorm:"size:36;not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

type baselineUserSearchToken struct {
	ID             uint64 `gorm:"primaryKey;autoIncrement"`
	UserID         string `gorm:"size:36;not null;index:ix_user_search_tokens_user;index:ix_user_search_tokens_org_token,priority:3"`
	Token          string `gorm:"size:64;not null;index:ix_user_search_tokens_org_token,priority:2"`
	OrganizationID string `gorm:"size:36;not null;index:ix_user_search_tokens_org_token,priority:1"`
}

func (baselineOrganization) TableName() string         { return "organizations" }
func (baselineCompany) TableName() string              { return "companies" }
func (baselineUser) TableName() string                 { return "users" }
func (baselineSession) TableName() string              { return "sessions" }
func (baselineAuditEvent) TableName() string           { return "audit_events" }
func (baselineEnrollment) TableName() string           { return "enrollments" }
func (baselineLoginTicket) TableName() string          { return "login_tickets" }
func (baselineRecoveryCode) TableName() string         { return "recovery_codes" }
func (baselinePolicy) TableName() string               { return "policies" }
func (baselineTrustedBrowser) TableName() string       { return "trusted_browsers" }
func (baselineEnrollmentRequest) TableName() string    { return "enrollment_requests" }
func (baselineLoginThrottle) TableName() string        { return "login_throttles" }
func (baselineOutboxRow) TableName() string            { return "outbox" }
func (baselineRecoveryLink) TableName() string         { return "recovery_links" }
func (baselineNotificationJob) TableName() string      { return "notification_jobs" }
func (baselineSigningKey) TableName() string           { return "signing_keys" }
func (baselineNotificationTemplate) TableName() string { return "notification_templates" }
func (baselineUserSearchToken) TableName() string      { return "user_search_tokens" }

func baselineRows() []any {
	return []any{&baselineOrganization{}, &baselineCompany{}, &baselineUser{}, &baselineSession{}, &baselineAuditEvent{}, &baselineEnrollment{}, &baselineLoginTicket{}, &baselineRecoveryCode{}, &baselinePolicy{}, &baselineTrustedBrowser{}, &baselineEnrollmentRequest{}, &baselineLoginThrottle{}, &baselineOutboxRow{}, &baselineRecoveryLink{}, &baselineNotificationJob{}, &baselineSigningKey{}, &baselineNotificationTemplate{}, &baselineUserSearchToken{}}
}
