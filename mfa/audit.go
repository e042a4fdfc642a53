package mfa

import (
	"context"
	"time"
)

// AuditAction names a security event. Values are stable: admins filter and
// alert on them.
type AuditAction string

// Audit actions.
const (
	AuditLoginSucceeded     AuditAction = "login.succeeded"
	AuditLoginFailed        AuditAction = "login.failed"
	AuditLoginLocked        AuditAction = "login.locked"
	AuditLogout             AuditAction = "logout"
	AuditLogoutEverywhere   AuditAction = "logout.everywhere"
	AuditPasswordChanged    AuditAction = "password.changed"
	AuditUserCreated        AuditAction = "user.created"
	AuditUserUpdated        AuditAction = "user.updated"
	AuditUserDeactivated    AuditAction = "user.deactivated"
	AuditUserReactivated    AuditAction = "user.reactivated"
	AuditUserUnlocked       AuditAction = "user.unlocked"
	AuditCompanyCreated     AuditAction = "company.created"
	AuditOrganizationBooted AuditAction = "organization.bootstrapped"
)

// AuditEvent is one security event, written in the same transaction as the
// change it records.
type AuditEvent struct {
	ID             string
	OrganizationID string
	// ActorID is who did it (empty for anonymous, e.g. a failed login of an
	// unknown user); SubjectID is whom it concerns.
	ActorID   string
	SubjectID string
	Action    AuditAction
	IP        string
	UserAgent string
	Details   map[string]string
	CreatedAt time.Time
}

// AuditFilter narrows an audit list.
type AuditFilter struct {
	UserID string // actor or subject
	Action AuditAction
	From   *time.Time
	To     *time.Time
}

// AuditQuery is a store-level audit list request, newest first.
type AuditQuery struct {
	OrganizationID string
	Filter         AuditFilter
	Page           Page
}

// Client describes the caller's network origin, for audit and rate limits.
type Client struct {
	IP        string
	UserAgent string
}

type clientKey struct{}

// WithClient returns ctx carrying the request's client. The HTTP layer sets
// it once per request.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client set by WithClient.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

// audit writes an event through st (normally a transaction's store), filling
// the client and the time.
func (s *Service) audit(ctx context.Context, st Store, orgID, actorID, subjectID string, action AuditAction, details map[string]string) error {
	e := s.auditEvent(ctx, orgID, actorID, subjectID, action, details)
	return st.AddAuditEvent(ctx, &e)
}

// auditEvent is an event of the request's client at the service's now.
func (s *Service) auditEvent(ctx context.Context, orgID, actorID, subjectID string, action AuditAction, details map[string]string) AuditEvent {
	c := ClientFrom(ctx)
	return AuditEvent{
		ID:             newID(),
		OrganizationID: orgID,
		ActorID:        actorID,
		SubjectID:      subjectID,
		Action:         action,
		IP:             c.IP,
		UserAgent:      truncate(c.UserAgent, 255),
		Details:        details,
		CreatedAt:      s.now(),
	}
}

// AuditEvents lists the organization's events for a viewer with VIEW_AUDIT,
// newest first, one keyset page.
func (s *Service) AuditEvents(ctx context.Context, v *Viewer, f AuditFilter, p Page) (*Paged[AuditEvent], error) {
	if !v.User.Can(PermissionViewAudit) {
		return nil, errForbidden
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return nil, invalidInput("filter.to", "to must not be before from")
	}
	if err := checkCursor(p, AuditOrderKey); err != nil {
		return nil, err
	}
	out, err := s.store.AuditEvents(ctx, AuditQuery{OrganizationID: v.User.OrganizationID, Filter: f, Page: p})
	return out, listError(err)
}
