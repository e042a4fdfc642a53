package mfa

import (
	"context"
	"time"
)

// LinkPurpose says what an emailed link may do.
type LinkPurpose string

// Link purposes.
const (
	// LinkMFARecovery removes a user's factors once the password is proven
	// (lost device).
	LinkMFARecovery LinkPurpose = "mfa_recovery"
	// LinkPasswordReset sets a new password (forgotten password).
	LinkPasswordReset LinkPurpose = "password_reset"
)

// RecoveryLink is a single-use emailed link. Only the SHA-256 of its
// 256-bit token is stored. Every request stores one, for unknown accounts
// too (UserID empty, never usable), so that a request costs the same work
// whether or not the account exists and the per-account limit counts
// unknown names exactly as real ones.
type RecoveryLink struct {
	ID             string
	Purpose        LinkPurpose
	OrganizationID string
	// Subject is what the per-account limit counts: the user's id, or the
	// hashed organization and name when no usable account matched.
	Subject string
	// UserID is empty when the link can never be used.
	UserID    string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// NotificationJob is a notification fan-out too large for the event's
// transaction (a policy that makes MFA required for a whole organization):
// the event writes the job, and ExpandNotificationJobs turns it into outbox
// rows one page of users at a time, each page in its own transaction.
type NotificationJob struct {
	ID             string
	OrganizationID string
	// Kind names the expansion (JobPolicyRequired).
	Kind string
	// Data is the expansion's input (JSON).
	Data string
	// Cursor is the id of the last user handled ("" before the first page).
	Cursor    string
	CreatedAt time.Time
}

// RecoveryStore persists emailed links and notification fan-outs, and
// finds the recipients of organization-wide notifications. It is part of
// Store.
type RecoveryStore interface {
	// CreateRecoveryLink stores l only if fewer than max links of its
	// purpose and subject were created after since, decided in one
	// statement; it reports whether it stored l.
	CreateRecoveryLink(ctx context.Context, l *RecoveryLink, since time.Time, max int) (bool, error)
	// RecoveryLinkByHash finds a link of the purpose by its token hash.
	RecoveryLinkByHash(ctx context.Context, purpose LinkPurpose, hash string) (*RecoveryLink, error)
	// ConsumeRecoveryLink marks the link used if it is unused and not
	// expired at now; otherwise ErrStale.
	ConsumeRecoveryLink(ctx context.Context, id string, now time.Time) error
	// ConsumeUserRecoveryLinks marks every unused link of the user and
	// purpose used.
	ConsumeUserRecoveryLinks(ctx context.Context, userID string, purpose LinkPurpose, now time.Time) error

	// OrganizationManagers returns the organization's active users holding
	// MANAGE_ORGANIZATION (no lock: for notifications).
	OrganizationManagers(ctx context.Context, orgID string) ([]User, error)
	// UsersInScope pages the active users a policy scope matches, by id,
	// after afterID.
	UsersInScope(ctx context.Context, orgID string, sc PolicyScope, afterID string, limit int) ([]User, error)

	CreateNotificationJob(ctx context.Context, j *NotificationJob) error
	// NotificationJobs returns up to limit jobs, oldest first.
	NotificationJobs(ctx context.Context, limit int) ([]NotificationJob, error)
	// AdvanceNotificationJob moves the job's cursor from prev to next, or
	// deletes the job when done; ErrStale when another server moved it
	// first (its page's rows then roll back with the caller's transaction).
	AdvanceNotificationJob(ctx context.Context, id, prev, next string, done bool) error
}
