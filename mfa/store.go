package mfa

import (
	"context"
	"time"
)

// Store is the persistence mfa needs. models.Store implements it on GORM
// for MySQL and SQLite; the contract suite in models runs it on both.
//
// Reads return ErrNotFound when nothing matches; writes return ErrDuplicate
// when a unique key refuses them and ErrStale when a compare-and-swap loses.
type Store interface {
	// Transaction runs fn with a Store bound to one database transaction,
	// committed when fn returns nil.
	Transaction(ctx context.Context, fn func(tx Store) error) error
	Ping(ctx context.Context) error

	CreateOrganization(ctx context.Context, o *Organization) error
	OrganizationBySlug(ctx context.Context, slug string) (*Organization, error)
	OrganizationByID(ctx context.Context, id string) (*Organization, error)

	// OrganizationsByIDs and CompaniesByIDs batch look-ups (dataloaders).
	OrganizationsByIDs(ctx context.Context, ids []string) ([]Organization, error)
	CompaniesByIDs(ctx context.Context, ids []string) ([]Company, error)

	CreateCompany(ctx context.Context, c *Company) error
	CompanyByID(ctx context.Context, id string) (*Company, error)
	Companies(ctx context.Context, orgID string) ([]Company, error)

	CreateUser(ctx context.Context, u *User) error
	// UpdateUser writes the profile, permissions and status: not the
	// password hash (SetPasswordHash), the login times (RecordLoginSuccess)
	// or the failure count (TakeAttempt).
	UpdateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByLogin finds a user of the organization by username or email.
	UserByLogin(ctx context.Context, orgID, login string) (*User, error)
	// LockActiveManagers returns the ids of the organization's active users
	// holding MANAGE_ORGANIZATION, as last committed, and locks them until
	// the transaction ends (call it inside Transaction).
	LockActiveManagers(ctx context.Context, orgID string) ([]string, error)

	// TakeAttempt counts one attempt of sub before its secret is checked.
	// A lock that expired before now starts a fresh count; then the count
	// is raised only if sub is not locked and fewer than max attempts are
	// counted. If no slot was taken, locked says whether sub is locked at
	// now; if it is not, attempts in flight hold every slot.
	TakeAttempt(ctx context.Context, sub AttemptSubject, now time.Time, max int) (taken, locked bool, err error)
	// ReleaseAttempt gives back the slot of an attempt whose secret was
	// right or was never checked.
	ReleaseAttempt(ctx context.Context, sub AttemptSubject) error
	// LockAttempts locks sub until lockUntil if its count reached max and it
	// is not locked. It says whether sub is locked at now and whether this
	// call set the lock.
	LockAttempts(ctx context.Context, sub AttemptSubject, now time.Time, max int, lockUntil time.Time) (locked, justLocked bool, err error)
	// RecordLoginSuccess clears the failure count and sets the last login
	// (and last MFA) time, only if the user is active and not locked at now;
	// otherwise ErrStale.
	RecordLoginSuccess(ctx context.Context, userID string, now time.Time, withMFA bool) error
	// SetPasswordHash replaces the user's password hash if it is still old.
	SetPasswordHash(ctx context.Context, userID, old, next string) error
	// ResetLoginFailures clears the counter and any lock.
	ResetLoginFailures(ctx context.Context, userID string) error

	CreateSession(ctx context.Context, s *Session) error
	SessionByTokenHash(ctx context.Context, hash string) (*Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of the user except exceptID,
	// and every login of theirs in progress (their login tickets): what ends
	// trust in a session ends it in a half-finished login too.
	DeleteUserSessions(ctx context.Context, userID, exceptID string) error

	// EnqueueNotifications writes outbox rows (in the caller's transaction).
	EnqueueNotifications(ctx context.Context, ns []Notification) error

	AddAuditEvent(ctx context.Context, e *AuditEvent) error
	// AddAuditEvents writes several events in one statement.
	AddAuditEvents(ctx context.Context, es []AuditEvent) error

	ListStore
	FactorStore
	PolicyStore
	SealStore
	RecoveryStore
	AssertionStore
	NotificationStore
	AuditArchiveStore
	LicenseStore
	GraceStore
	SimulationStore
}

// UserOrderField is what a user list is sorted by.
type UserOrderField string

// User sort fields.
const (
	UserOrderUsername    UserOrderField = "USERNAME"
	UserOrderDisplayName UserOrderField = "DISPLAY_NAME"
	UserOrderEmail       UserOrderField = "EMAIL"
	UserOrderCreatedAt   UserOrderField = "CREATED_AT"
	UserOrderLastLoginAt UserOrderField = "LAST_LOGIN_AT"
	UserOrderLastMFAAt   UserOrderField = "LAST_MFA_AT"
	UserOrderMFAEnrolled UserOrderField = "MFA_ENROLLED"
	UserOrderMFARequired UserOrderField = "MFA_REQUIRED"
)

// UserFilter narrows a user list. Empty fields do not filter.
type UserFilter struct {
	// Search matches display name, username, email and company name.
	Search    string
	CompanyID string
	UserType  string
	Status    UserStatus
	// MFAEnrolled filters on having an active factor; FactorType on having
	// one of that type.
	MFAEnrolled *bool
	FactorType  string
	// MFARequired filters on the effective policy (resolved in SQL).
	MFARequired *bool
	// MFAOverdue filters on the enrolment grace being used up (deadline
	// passed or skips used); MFADeadlineBefore on a grace deadline before
	// the time (grace.go). Both match only users who must enrol.
	MFAOverdue        *bool
	MFADeadlineBefore *time.Time
}

// UserQuery is a store-level user list request.
type UserQuery struct {
	OrganizationID string
	Filter         UserFilter
	OrderBy        UserOrderField
	Desc           bool
	Page           Page
	// Now is the time policies are resolved at (enforceFrom).
	Now time.Time
}

// FactorStore persists enrollments, login tickets and recovery codes. It is
// part of Store.
type FactorStore interface {
	CreateEnrollment(ctx context.Context, e *Enrollment) error
	EnrollmentByID(ctx context.Context, id string) (*Enrollment, error)
	// EnrollmentByExternalID finds an active enrollment by the id its factor
	// gave it (a WebAuthn credential id).
	EnrollmentByExternalID(ctx context.Context, factorType, externalID string) (*Enrollment, error)
	// Enrollments lists a user's enrollments with the status ("" for all),
	// oldest first.
	Enrollments(ctx context.Context, userID string, status EnrollmentStatus) ([]Enrollment, error)
	// EnrollmentsOfUsers is Enrollments for many users at once.
	EnrollmentsOfUsers(ctx context.Context, userIDs []string, status EnrollmentStatus) ([]Enrollment, error)
	// UpdateEnrollment writes e (status, state, key id, external id,
	// metadata, label, times) if its version is still prevVersion, and bumps
	// the version; otherwise ErrStale. This is what makes a TOTP code or a
	// WebAuthn assertion count once across servers.
	UpdateEnrollment(ctx context.Context, e *Enrollment, prevVersion int) error
	DeleteEnrollment(ctx context.Context, id string) error
	// EnrollmentsPage lists every enrollment with id > afterID, by id.
	EnrollmentsPage(ctx context.Context, afterID string, limit int) ([]Enrollment, error)

	CreateLoginTicket(ctx context.Context, t *LoginTicket) error
	LoginTicketByHash(ctx context.Context, hash string) (*LoginTicket, error)
	// LoginTicketAndUser reads a ticket and its user in one statement;
	// ErrNotFound if either is gone.
	LoginTicketAndUser(ctx context.Context, hash string) (*LoginTicket, *User, error)
	// SetTicketChallenge stores a verification challenge on an unconsumed
	// ticket.
	SetTicketChallenge(ctx context.Context, t *LoginTicket) error
	// ConsumeLoginTicket marks the ticket used if it was not; otherwise
	// ErrStale.
	ConsumeLoginTicket(ctx context.Context, id string, at time.Time) error

	// ReplaceRecoveryCodes deletes the user's codes and stores new hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error
	// UseRecoveryCode marks an unused code of the user used; ErrNotFound if
	// there is none with that hash.
	UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) error
	DeleteRecoveryCodes(ctx context.Context, userID string) error
	// RecoveryCodesLeft counts the user's unused codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
}

// PolicyStore persists policies, trusted browsers and enrollment requests.
// It is part of Store.
type PolicyStore interface {
	// LockPolicy reads exactly the policy of sc and holds its row (or its
	// place) until the transaction ends; ErrNotFound when there is none.
	LockPolicy(ctx context.Context, orgID string, sc PolicyScope) (*Policy, error)
	// UpsertPolicy creates or replaces the policy of p's scope.
	UpsertPolicy(ctx context.Context, p *Policy) error
	DeletePolicy(ctx context.Context, orgID string, scope PolicyScope) error
	Policies(ctx context.Context, orgID string) ([]Policy, error)
	// PoliciesFor returns the (at most five) policies whose scope could
	// match a user with these attributes.
	PoliciesFor(ctx context.Context, orgID, userID, companyID, userType string) ([]Policy, error)

	CreateTrustedBrowser(ctx context.Context, tb *TrustedBrowser) error
	TrustedBrowserByHash(ctx context.Context, hash string) (*TrustedBrowser, error)
	TrustedBrowserByID(ctx context.Context, id string) (*TrustedBrowser, error)
	TrustedBrowsers(ctx context.Context, userID string) ([]TrustedBrowser, error)
	TouchTrustedBrowser(ctx context.Context, id string, at time.Time) error
	DeleteTrustedBrowser(ctx context.Context, id string) error
	DeleteUserTrustedBrowsers(ctx context.Context, userID string) error

	CreateEnrollmentRequest(ctx context.Context, r *EnrollmentRequest) error
	EnrollmentRequests(ctx context.Context, userID string) ([]EnrollmentRequest, error)
	DeleteEnrollmentRequest(ctx context.Context, userID, factorType string) error

	DeleteUserEnrollments(ctx context.Context, userID string) error

	// PurgeExpired deletes sessions that expired or idled out before the
	// cutoffs, login tickets and pending enrollments that expired, and
	// trusted browsers past their expiry. It returns how many rows it deleted.
	PurgeExpired(ctx context.Context, now, idleCutoff time.Time) (int64, error)
}

// SealStore tells which seal keys the stored data needs. It is part of
// Store.
type SealStore interface {
	// SealKeyIDs returns the distinct key ids of sealed values still in use
	// (enrollment states; challenges of live login tickets) at now.
	SealKeyIDs(ctx context.Context, now time.Time) ([]string, error)
}

// AssertionStore persists the keys that sign session assertions and what a
// session remembers of its login. It is part of Store.
type AssertionStore interface {
	// SigningKeys returns every stored signing key.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// CreateSigningKey stores k; ErrDuplicate if its generation exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// DeleteSigningKeys deletes the keys no longer published at now
	// (VerifyUntil not after now).
	DeleteSigningKeys(ctx context.Context, now time.Time) error

	// SessionByID returns a session with its authentication methods.
	SessionByID(ctx context.Context, id string) (*Session, error)
}
