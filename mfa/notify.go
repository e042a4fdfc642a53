package mfa

import (
	"context"
	"maps"
	"strings"
	"time"
)

// Event names why a notification is sent; notify/ has a template for each
// (subject, text and HTML parts) and documents its variables.
type Event string

// Notification events. Data keys each event's template can use are listed
// in notify's templates and the README.
const (
	// EventMFARequired: MFA became required for the user (a policy change,
	// a per-user switch or an admin's enrolment request).
	EventMFARequired Event = "mfa.required"
	// EventMFADisabledByUser: to every organization manager; a user
	// disabled their own MFA or removed their last factor.
	EventMFADisabledByUser Event = "mfa.disabled_by_user"
	// EventRecoveryLink: to the user; the lost-device link.
	EventRecoveryLink Event = "recovery.link"
	// EventRecoveryCompleted: to the user and every organization manager.
	EventRecoveryCompleted Event = "recovery.completed"
	// EventMFAReset, EventFactorRemoved, EventUnlocked: an admin acted on
	// the user's account; to the user.
	EventMFAReset      Event = "mfa.reset"
	EventFactorRemoved Event = "factor.removed"
	EventUnlocked      Event = "account.unlocked"
	// EventLocked: the account was locked after too many attempts.
	EventLocked Event = "account.locked"
	// EventBrowserTrusted, EventPasswordChanged: to the user.
	EventBrowserTrusted  Event = "browser.trusted"
	EventPasswordChanged Event = "password.changed"
	// EventPasswordResetLink: to the user; the forgotten-password link.
	EventPasswordResetLink Event = "password.reset_link"
	// EventAccountActivation: to an organization's first admin, created by
	// the operator; the link sets their password.
	EventAccountActivation Event = "account.activation"
	// EventLicenseUsage: to the billing contacts (or the organization
	// managers when there are none); MFA seat usage reached 80 % or 100 %.
	EventLicenseUsage Event = "license.usage"
)

// NotificationStatus is where an outbox row stands.
type NotificationStatus string

// Outbox states.
const (
	NotificationPending NotificationStatus = "PENDING"
	NotificationSent    NotificationStatus = "SENT"
	// NotificationDead: given up after the maximum age or a permanent
	// failure; LastError says why.
	NotificationDead NotificationStatus = "DEAD"
	// NotificationSkipped: not sent on purpose (the organization switched
	// the event off, or the user has no email address).
	NotificationSkipped NotificationStatus = "SKIPPED"
)

// Notification is one mail in the outbox. It is written in the same
// transaction as the event that causes it, so a rollback sends nothing and
// a crash loses nothing; a worker in every server claims due rows, renders
// and sends them (package notify).
type Notification struct {
	ID             string
	OrganizationID string
	// UserID is the recipient, a user of the organization; To is their
	// address when the row was written.
	UserID string
	To     string
	Event  Event
	// Data are the template's variables.
	Data          map[string]string
	Status        NotificationStatus
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	SentAt        *time.Time
}

// notify writes one notification of ev per recipient through tx (the
// transaction of the event), with data as the template's variables plus
// the recipient's username, display name and the organization id. A
// recipient without an email address gets a SKIPPED row, so the outbox
// (and the admins' view of it) says why nothing was sent.
func (s *Service) notify(ctx context.Context, tx Store, orgID string, to []User, ev Event, data map[string]string) error {
	if len(to) == 0 {
		return nil
	}
	if ev == EventMFARequired {
		// MFA switched off or not subscribed: nobody is told to enrol.
		l, err := s.license(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if l.mfaOff() != "" {
			return nil
		}
	}
	now := s.now()
	rows := make([]Notification, 0, len(to))
	for _, u := range to {
		d := maps.Clone(data)
		if d == nil {
			d = map[string]string{}
		}
		d["username"], d["display_name"] = u.Username, u.DisplayName
		n := Notification{
			ID: newID(), OrganizationID: orgID, UserID: u.ID, To: u.Email, Event: ev, Data: d,
			Status: NotificationPending, NextAttemptAt: now, CreatedAt: now,
		}
		if !deliverable(u.Email) {
			n.Status, n.LastError = NotificationSkipped, "the user has no email address"
			details := map[string]string{"event": string(ev), "reason": "no_email"}
			if err := s.audit(ctx, tx, orgID, "", u.ID, AuditNotificationSkipped, details); err != nil {
				return err
			}
		}
		rows = append(rows, n)
	}
	return tx.EnqueueNotifications(ctx, rows)
}

// AuditNotificationSkipped: a notification was not sent because its
// recipient has no email address (details: event, reason).
const AuditNotificationSkipped AuditAction = "notification.skipped"

// deliverable reports whether mail can reach addr: not empty, and not in
// the reserved .invalid domain (RFC 2606) that bootstrap admins get.
func deliverable(addr string) bool {
	return addr != "" && !strings.HasSuffix(strings.ToLower(addr), ".invalid")
}
