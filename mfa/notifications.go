package mfa

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// NotificationLogged: no SMTP server is configured, so the mail was written
// to the server's log in full instead of sent (make run).
const NotificationLogged NotificationStatus = "LOGGED"

// NotificationStatuses are every outbox state, for filters.
var NotificationStatuses = []NotificationStatus{NotificationPending, NotificationSent, NotificationLogged, NotificationDead, NotificationSkipped}

// NotificationFilter narrows an outbox list. Empty fields do not filter.
type NotificationFilter struct {
	Status NotificationStatus
	UserID string
	Event  Event
}

// NotificationQuery is a store-level outbox list request, newest first.
type NotificationQuery struct {
	OrganizationID string
	Filter         NotificationFilter
	Page           Page
}

// NotificationTemplate is an organization's setting for one event: its
// overrides of the default subject, text and HTML parts (empty: the
// default) and whether the event is sent at all.
type NotificationTemplate struct {
	OrganizationID string
	Event          Event
	Subject        string
	Text           string
	HTML           string
	Enabled        bool
	UpdatedBy      string
	UpdatedAt      time.Time
}

// Custom reports whether any part is overridden.
func (t NotificationTemplate) Custom() bool { return t.Subject != "" || t.Text != "" || t.HTML != "" }

// NotificationPreview is a mail as it would be sent.
type NotificationPreview struct {
	Subject string
	Text    string
	HTML    string
}

// NotificationStore keeps the organizations' templates and lists the
// outbox. It is part of Store.
type NotificationStore interface {
	// Notifications lists the outbox, newest first (NotificationOrderKey).
	Notifications(ctx context.Context, q NotificationQuery) (*Paged[Notification], error)
	// NotificationTemplate returns the organization's setting for ev, or
	// ErrNotFound (defaults, enabled).
	NotificationTemplate(ctx context.Context, orgID string, ev Event) (*NotificationTemplate, error)
	// NotificationTemplates returns every setting of the organization.
	NotificationTemplates(ctx context.Context, orgID string) ([]NotificationTemplate, error)
	// SaveNotificationTemplate inserts or replaces t.
	SaveNotificationTemplate(ctx context.Context, t *NotificationTemplate) error
}

// NotificationTemplates checks and renders templates; package notify
// implements it (mfa renders nothing itself).
type NotificationTemplates interface {
	// Variables lists the variables ev's templates may use; ok is false for
	// an unknown event.
	Variables(ev Event) (vars []string, ok bool)
	// Default is ev's embedded template.
	Default(ev Event) NotificationTemplate
	// Check parses t's non-empty parts; the error names the part, the line
	// and what is wrong (a parse error, an unknown variable, a construct
	// that is not allowed).
	Check(ev Event, t NotificationTemplate) error
	// Preview renders t (empty parts: the default) with sample data.
	Preview(ev Event, t NotificationTemplate, org *Organization) (NotificationPreview, error)
}

// WithNotificationTemplates sets the templates used to check and preview
// organizations' overrides.
func WithNotificationTemplates(t NotificationTemplates) Option {
	return func(s *Service) { s.templates = t }
}

// Now is the service's clock (the outbox worker shares it).
func (s *Service) Now() time.Time { return s.now() }

// MaxTemplateBytes bounds each part of a template override.
const MaxTemplateBytes = 64 << 10

// Audit actions of notification settings.
const (
	AuditNotificationTemplateSet   AuditAction = "notification.template_set"
	AuditNotificationTemplateReset AuditAction = "notification.template_reset"
	AuditNotificationEnabled       AuditAction = "notification.enabled"
	AuditNotificationDisabled      AuditAction = "notification.disabled"
)

// NotificationOrderKey names the outbox list's order in cursors.
const NotificationOrderKey = "notifications/created_at/desc"

// Notifications lists the organization's outbox for a viewer with
// VIEW_AUDIT, newest first, one keyset page.
func (s *Service) Notifications(ctx context.Context, v *Viewer, f NotificationFilter, p Page) (*Paged[Notification], error) {
	if !v.User.Can(PermissionViewAudit) {
		return nil, errForbidden
	}
	if f.Status != "" && !knownStatus(f.Status) {
		return nil, invalidInput("filter.status", "unknown status %q", f.Status)
	}
	if f.UserID != "" && !validID(f.UserID) {
		return nil, invalidInput("filter.userId", "not a user id")
	}
	if f.Event != "" {
		if _, err := s.knownEvent(f.Event, "filter.event"); err != nil {
			return nil, err
		}
	}
	if err := checkCursor(p, NotificationOrderKey); err != nil {
		return nil, err
	}
	out, err := s.store.Notifications(ctx, NotificationQuery{OrganizationID: v.User.OrganizationID, Filter: f, Page: p})
	return out, listError(err)
}

func knownStatus(st NotificationStatus) bool {
	for _, k := range NotificationStatuses {
		if k == st {
			return true
		}
	}
	return false
}

func (s *Service) knownEvent(ev Event, field string) ([]string, error) {
	if s.templates == nil {
		return nil, newError(CodeUnavailable, "notification templates are not configured")
	}
	vars, ok := s.templates.Variables(ev)
	if !ok {
		return nil, invalidInput(field, "unknown event %q", ev)
	}
	return vars, nil
}

// NotificationSetting is an event's template as an organization sees it:
// the parts in use (the organization's overrides over the defaults).
type NotificationSetting struct {
	Event   Event
	Subject string
	Text    string
	HTML    string
	// Custom says whether any part is overridden.
	Custom  bool
	Enabled bool
	// Variables are what the templates may use.
	Variables []string
	// UpdatedAt is when the organization last changed it (nil: never).
	UpdatedAt *time.Time
}

// NotificationSettings lists every event's template and switch for a
// viewer with MANAGE_ORGANIZATION.
func (s *Service) NotificationSettings(ctx context.Context, v *Viewer) ([]NotificationSetting, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	if s.templates == nil {
		return nil, newError(CodeUnavailable, "notification templates are not configured")
	}
	saved, err := s.store.NotificationTemplates(ctx, v.User.OrganizationID)
	if err != nil {
		return nil, err
	}
	byEvent := map[Event]NotificationTemplate{}
	for _, t := range saved {
		byEvent[t.Event] = t
	}
	var out []NotificationSetting
	for _, ev := range Events {
		t, ok := byEvent[ev]
		if !ok {
			t = NotificationTemplate{OrganizationID: v.User.OrganizationID, Event: ev, Enabled: true}
		}
		out = append(out, s.setting(t))
	}
	return out, nil
}

// NotificationSettingOf is one event's setting (MANAGE_ORGANIZATION).
func (s *Service) NotificationSettingOf(ctx context.Context, v *Viewer, ev Event) (*NotificationSetting, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	if _, err := s.knownEvent(ev, "event"); err != nil {
		return nil, err
	}
	t, err := s.currentTemplate(ctx, s.store, v.User.OrganizationID, ev)
	if err != nil {
		return nil, err
	}
	st := s.setting(*t)
	return &st, nil
}

func (s *Service) setting(t NotificationTemplate) NotificationSetting {
	d := s.templates.Default(t.Event)
	vars, _ := s.templates.Variables(t.Event)
	st := NotificationSetting{Event: t.Event, Subject: t.Subject, Text: t.Text, HTML: t.HTML, Custom: t.Custom(), Enabled: t.Enabled, Variables: vars}
	if st.Subject == "" {
		st.Subject = d.Subject
	}
	if st.Text == "" {
		st.Text = d.Text
	}
	if st.HTML == "" {
		st.HTML = d.HTML
	}
	if !t.UpdatedAt.IsZero() {
		at := t.UpdatedAt
		st.UpdatedAt = &at
	}
	return st
}

func (s *Service) currentTemplate(ctx context.Context, st Store, orgID string, ev Event) (*NotificationTemplate, error) {
	t, err := st.NotificationTemplate(ctx, orgID, ev)
	if errors.Is(err, ErrNotFound) {
		return &NotificationTemplate{OrganizationID: orgID, Event: ev, Enabled: true}, nil
	}
	return t, err
}

// TemplateInput is a requested override: nil parts use the default.
type TemplateInput struct {
	Event   Event
	Subject *string
	Text    *string
	HTML    *string
}

func (in TemplateInput) template(orgID string) NotificationTemplate {
	t := NotificationTemplate{OrganizationID: orgID, Event: in.Event}
	if in.Subject != nil {
		t.Subject = *in.Subject
	}
	if in.Text != nil {
		t.Text = *in.Text
	}
	if in.HTML != nil {
		t.HTML = *in.HTML
	}
	return t
}

// checkTemplate refuses an unknown event, an oversize part or one that
// does not parse or uses an unknown variable (BAD_USER_INPUT naming the
// part and the line).
func (s *Service) checkTemplate(in TemplateInput, t NotificationTemplate) error {
	if _, err := s.knownEvent(in.Event, "event"); err != nil {
		return err
	}
	for field, part := range map[string]string{"subject": t.Subject, "text": t.Text, "html": t.HTML} {
		if len(part) > MaxTemplateBytes {
			return invalidInput(field, "%s is longer than %d KiB", field, MaxTemplateBytes>>10)
		}
	}
	if err := s.templates.Check(in.Event, t); err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			return invalidInput(te.Field, "%s", te.Error())
		}
		return err
	}
	return nil
}

// TemplateError is a template that does not check: Field is the part
// (subject, text, html), Line its line, Message what is wrong.
type TemplateError struct {
	Field   string
	Line    int
	Message string
}

func (e *TemplateError) Error() string {
	if e.Line > 0 {
		return e.Field + " line " + strconv.Itoa(e.Line) + ": " + e.Message
	}
	return e.Field + ": " + e.Message
}

// SetNotificationTemplate replaces the organization's overrides of ev
// (MANAGE_ORGANIZATION); omitted parts fall back to the default. The
// switch is kept.
func (s *Service) SetNotificationTemplate(ctx context.Context, v *Viewer, in TemplateInput) (*NotificationSetting, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	t := in.template(v.User.OrganizationID)
	if err := s.checkTemplate(in, t); err != nil {
		return nil, err
	}
	return s.saveTemplate(ctx, v, in.Event, AuditNotificationTemplateSet, func(cur *NotificationTemplate) {
		cur.Subject, cur.Text, cur.HTML = t.Subject, t.Text, t.HTML
	})
}

// ResetNotificationTemplate drops the organization's overrides of ev
// (MANAGE_ORGANIZATION); the switch is kept.
func (s *Service) ResetNotificationTemplate(ctx context.Context, v *Viewer, ev Event) (*NotificationSetting, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	if _, err := s.knownEvent(ev, "event"); err != nil {
		return nil, err
	}
	return s.saveTemplate(ctx, v, ev, AuditNotificationTemplateReset, func(cur *NotificationTemplate) {
		cur.Subject, cur.Text, cur.HTML = "", "", ""
	})
}

// SetNotificationEnabled switches ev on or off for the organization
// (MANAGE_ORGANIZATION). Mails of a switched-off event are still written
// to the outbox and marked SKIPPED by the worker, so admins see what was
// not sent.
func (s *Service) SetNotificationEnabled(ctx context.Context, v *Viewer, ev Event, enabled bool) (*NotificationSetting, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	if _, err := s.knownEvent(ev, "event"); err != nil {
		return nil, err
	}
	action := AuditNotificationDisabled
	if enabled {
		action = AuditNotificationEnabled
	}
	return s.saveTemplate(ctx, v, ev, action, func(cur *NotificationTemplate) { cur.Enabled = enabled })
}

func (s *Service) saveTemplate(ctx context.Context, v *Viewer, ev Event, action AuditAction, change func(*NotificationTemplate)) (*NotificationSetting, error) {
	var saved NotificationTemplate
	err := s.store.Transaction(ctx, func(tx Store) error {
		cur, err := s.currentTemplate(ctx, tx, v.User.OrganizationID, ev)
		if err != nil {
			return err
		}
		change(cur)
		cur.UpdatedBy, cur.UpdatedAt = v.User.ID, s.now()
		if err := tx.SaveNotificationTemplate(ctx, cur); err != nil {
			return err
		}
		saved = *cur
		return s.audit(ctx, tx, v.User.OrganizationID, v.User.ID, "", action, map[string]string{"event": string(ev)})
	})
	if err != nil {
		return nil, err
	}
	st := s.setting(saved)
	return &st, nil
}

// PreviewNotification renders ev with sample data, without sending
// (MANAGE_ORGANIZATION). Parts given are checked like
// SetNotificationTemplate's; omitted parts are the organization's current
// ones.
func (s *Service) PreviewNotification(ctx context.Context, v *Viewer, in TemplateInput) (*NotificationPreview, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, errForbidden
	}
	t := in.template(v.User.OrganizationID)
	if err := s.checkTemplate(in, t); err != nil {
		return nil, err
	}
	cur, err := s.currentTemplate(ctx, s.store, v.User.OrganizationID, in.Event)
	if err != nil {
		return nil, err
	}
	if in.Subject == nil {
		t.Subject = cur.Subject
	}
	if in.Text == nil {
		t.Text = cur.Text
	}
	if in.HTML == nil {
		t.HTML = cur.HTML
	}
	org, err := s.store.OrganizationByID(ctx, v.User.OrganizationID)
	if err != nil {
		return nil, err
	}
	r, err := s.templates.Preview(in.Event, t, org)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Events lists every notification event.
var Events = []Event{
	EventMFARequired, EventMFADisabledByUser, EventRecoveryLink, EventRecoveryCompleted, EventMFAReset,
	EventFactorRemoved, EventUnlocked, EventLocked, EventBrowserTrusted, EventPasswordChanged, EventPasswordResetLink,
	EventAccountActivation, EventLicenseUsage, EventFactorMessage, EventEnrollmentReminder,
}
