package mfa

import (
	"context"
	"errors"
	"time"
)

// License is an organization's MFA subscription and its switches: how many
// seats it bought, how many are held, whether MFA is subscribed and
// switched on, whether the operator suspended it, and which usage alerts
// were sent. An organization without a stored licence has the defaults:
// unlimited seats, subscribed, switched on, not suspended (the bootstrap
// organization is such one).
//
// A seat is held by each active user with at least one active factor. It
// is taken in the transaction that activates the user's first factor, by a
// conditional update of the counter (Used < Seats), and given back in the
// transaction that removes the last one (factor removal, MFA reset,
// deactivation): the counter never passes the seats, whatever the number
// of servers.
type License struct {
	OrganizationID string
	// Seats is nil for no limit.
	Seats *int
	Used  int
	// MFASubscribed false: nobody is offered MFA, factors stay dormant.
	MFASubscribed bool
	// MFAEnabled is the organization's master switch (setOrganizationMfa).
	MFAEnabled bool
	// SuspendedAt is set while the operator has suspended the organization.
	SuspendedAt *time.Time
	// Alert80Sent and Alert100Sent are set when the 80 % and 100 % usage
	// alerts went out, and cleared when usage drops below again (re-armed).
	Alert80Sent  bool
	Alert100Sent bool
	UpdatedAt    time.Time
}

// LicenseUsageDay is the seat usage at the end of a day (UTC).
type LicenseUsageDay struct {
	Date  string // 2006-01-02
	Used  int
	Seats *int
}

// LicenseStore persists licences, billing contacts and usage history. It
// is part of Store.
type LicenseStore interface {
	// LicenseOf reads the organization's licence; ErrNotFound when it has
	// none (the defaults apply).
	LicenseOf(ctx context.Context, orgID string) (*License, error)
	// LockLicense creates the organization's licence with the defaults if
	// it has none, and reads it, locked until the transaction ends.
	LockLicense(ctx context.Context, orgID string) (*License, error)
	// SaveLicense writes every field of l (under LockLicense).
	SaveLicense(ctx context.Context, l *License) error
	// CountSeatHolders counts the organization's active users with an
	// active factor, as this transaction sees them.
	CountSeatHolders(ctx context.Context, orgID string) (int, error)
	// MarkSeatHolder sets the user's mfa_enrolled flag if it was not set
	// and says whether this call set it.
	MarkSeatHolder(ctx context.Context, userID string) (bool, error)
	// UnmarkSeatHolder clears the flag if it is set and the user has no
	// active enrollment left, and says whether this call cleared it.
	UnmarkSeatHolder(ctx context.Context, userID string) (bool, error)
	// TakeLicenseSeat raises Used by one if the organization's licence has
	// a free seat (Used < Seats, or no limit) and returns the licence as
	// changed; taken is false when it is full. A missing licence is
	// (nil, true): no limit, nothing counted.
	TakeLicenseSeat(ctx context.Context, orgID string) (l *License, taken bool, err error)
	// ReleaseLicenseSeat lowers Used by one (not below zero) and returns
	// the licence as changed; nil when there is none.
	ReleaseLicenseSeat(ctx context.Context, orgID string) (*License, error)
	// SetLicenseAlerts writes the alert flags.
	SetLicenseAlerts(ctx context.Context, orgID string, a80, a100 bool) error
	// RecordLicenseUsage upserts the day's usage row.
	RecordLicenseUsage(ctx context.Context, orgID string, day LicenseUsageDay) error
	// LicenseUsageSince lists the organization's usage rows from the day
	// (inclusive), oldest first, and the last row before it (if any) first.
	LicenseUsageSince(ctx context.Context, orgID, fromDay string) ([]LicenseUsageDay, error)

	// SetBillingContact adds or removes the user's billing-contact mark.
	SetBillingContact(ctx context.Context, orgID, userID string, on bool) error
	// IsBillingContact reports whether the user is marked.
	IsBillingContact(ctx context.Context, userID string) (bool, error)
	// BillingContacts returns the organization's active marked users.
	BillingContacts(ctx context.Context, orgID string) ([]User, error)

	// OrganizationsPage lists every organization by slug with its licence
	// (nil: none).
	OrganizationsPage(ctx context.Context, p Page) (*Paged[OrganizationWithLicense], error)
	// DeleteOrganizationSessions ends every session and login in progress
	// of the organization's users.
	DeleteOrganizationSessions(ctx context.Context, orgID string) error
}

// OrganizationWithLicense is an organization and its licence (nil: none).
type OrganizationWithLicense struct {
	Organization
	License *License
}

// OrganizationOrderKey names the organizations list's order in cursors.
const OrganizationOrderKey = "organizations:slug"

// Audit actions of licences and switches.
const (
	AuditLicenseChanged       AuditAction = "license.changed"
	AuditSeatTaken            AuditAction = "license.seat_taken"
	AuditSeatReleased         AuditAction = "license.seat_released"
	AuditLicenseAlert         AuditAction = "license.alert"
	AuditMFASkipped           AuditAction = "login.mfa_skipped"
	AuditOrganizationMFA      AuditAction = "organization.mfa_switched"
	AuditBillingContactChange AuditAction = "user.billing_contact"
	AuditSeatRecycled         AuditAction = "license.seat_recycled"
)

// Reasons a login answers without the second factor its policy asks, and
// why MFA is not offered.
const (
	// ReasonNoSeat: the user must use MFA but holds no seat and none is
	// free.
	ReasonNoSeat = "NO_SEAT_AVAILABLE"
	// ReasonNotSubscribed, ReasonSwitchedOff: the organization has no MFA
	// subscription, or switched MFA off.
	ReasonNotSubscribed = "MFA_NOT_SUBSCRIBED"
	ReasonSwitchedOff   = "MFA_SWITCHED_OFF"
)

var errNoSeat = &Error{Code: CodeForbidden, Reason: ReasonNoSeat,
	Message: "your organization has used all its MFA licences: you cannot set up a second factor now; ask your administrator"}

// DefaultLicense is what applies without a stored licence.
func DefaultLicense(orgID string) *License { return defaultLicense(orgID) }

func defaultLicense(orgID string) *License {
	return &License{OrganizationID: orgID, MFASubscribed: true, MFAEnabled: true}
}

// SeatFree reports whether a user holding no seat could take one.
func (l *License) SeatFree() bool { return l.Seats == nil || l.Used < *l.Seats }

// Available is how many seats are free (nil: no limit).
func (l *License) Available() *int {
	if l.Seats == nil {
		return nil
	}
	n := max(*l.Seats-l.Used, 0)
	return &n
}

// PercentUsed is Used over Seats in percent (0 without a limit or seats).
func (l *License) PercentUsed() float64 {
	if l.Seats == nil || *l.Seats == 0 {
		if l.Seats != nil && l.Used > 0 {
			return 100
		}
		return 0
	}
	return float64(l.Used) * 100 / float64(*l.Seats)
}

// mfaOff says why MFA is off for the whole organization ("" when it is
// not): the subscription or the master switch.
func (l *License) mfaOff() string {
	switch {
	case !l.MFASubscribed:
		return ReasonNotSubscribed
	case !l.MFAEnabled:
		return ReasonSwitchedOff
	}
	return ""
}

// license reads the organization's licence, or the defaults.
func (s *Service) license(ctx context.Context, st Store, orgID string) (*License, error) {
	l, err := st.LicenseOf(ctx, orgID)
	if errors.Is(err, ErrNotFound) {
		return defaultLicense(orgID), nil
	}
	return l, err
}

// takeSeat is called in the transaction that activates a factor of u: if
// it is u's first, u takes a seat, or the transaction fails with
// NO_SEAT_AVAILABLE. Crossing 80 % or 100 % of the seats is decided here,
// under the licence row's lock, so each alert goes out once.
func (s *Service) takeSeat(ctx context.Context, tx Store, u *User, actorID string) error {
	if u.Status != UserActive {
		return nil
	}
	first, err := tx.MarkSeatHolder(ctx, u.ID)
	if err != nil || !first {
		return err
	}
	l, taken, err := tx.TakeLicenseSeat(ctx, u.OrganizationID)
	if err != nil {
		return err
	}
	if !taken {
		return errNoSeat
	}
	if l == nil {
		return nil
	}
	if err := s.audit(ctx, tx, u.OrganizationID, actorID, u.ID, AuditSeatTaken, seatDetails(l)); err != nil {
		return err
	}
	return s.afterSeatChange(ctx, tx, l)
}

// releaseSeat is called in the transaction that removed factors of u
// (after the delete): if u has none left, u's seat is given back. held
// says whether u counted as a holder (an active user).
func (s *Service) releaseSeat(ctx context.Context, tx Store, u *User, held bool, actorID string) error {
	cleared, err := tx.UnmarkSeatHolder(ctx, u.ID)
	if err != nil || !cleared || !held {
		return err
	}
	l, err := tx.ReleaseLicenseSeat(ctx, u.OrganizationID)
	if err != nil || l == nil {
		return err
	}
	if err := s.audit(ctx, tx, u.OrganizationID, actorID, u.ID, AuditSeatReleased, seatDetails(l)); err != nil {
		return err
	}
	return s.afterSeatChange(ctx, tx, l)
}

func seatDetails(l *License) map[string]string {
	d := map[string]string{"used": itoa(l.Used)}
	if l.Seats != nil {
		d["seats"] = itoa(*l.Seats)
	}
	return d
}

// afterSeatChange records the day's usage and sends or re-arms the usage
// alerts, in the transaction that changed l (which holds its row lock).
func (s *Service) afterSeatChange(ctx context.Context, tx Store, l *License) error {
	if err := tx.RecordLicenseUsage(ctx, l.OrganizationID, LicenseUsageDay{Date: s.now().Format(time.DateOnly), Used: l.Used, Seats: l.Seats}); err != nil {
		return err
	}
	a80, a100 := l.Alert80Sent, l.Alert100Sent
	var crossed []int
	if l.Seats != nil && *l.Seats > 0 {
		over80, full := l.Used*100 >= 80**l.Seats, l.Used >= *l.Seats
		if over80 && !a80 {
			a80 = true
			crossed = append(crossed, 80)
		}
		if full && !a100 {
			a100 = true
			crossed = append(crossed, 100)
		}
		a80, a100 = a80 && over80, a100 && full // below again: re-armed
	} else {
		a80, a100 = false, false
	}
	if a80 == l.Alert80Sent && a100 == l.Alert100Sent {
		return nil
	}
	if err := tx.SetLicenseAlerts(ctx, l.OrganizationID, a80, a100); err != nil {
		return err
	}
	l.Alert80Sent, l.Alert100Sent = a80, a100
	for _, pct := range crossed {
		if err := s.sendUsageAlert(ctx, tx, l, pct); err != nil {
			return err
		}
	}
	return nil
}

// sendUsageAlert mails the billing contacts (or, when there are none, the
// organization managers) that usage reached pct % of the seats.
func (s *Service) sendUsageAlert(ctx context.Context, tx Store, l *License, pct int) error {
	to, err := tx.BillingContacts(ctx, l.OrganizationID)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		if to, err = s.activeManagers(ctx, tx, l.OrganizationID); err != nil {
			return err
		}
	}
	d := seatDetails(l)
	d["threshold"] = itoa(pct)
	if err := s.audit(ctx, tx, l.OrganizationID, "", "", AuditLicenseAlert, d); err != nil {
		return err
	}
	data := map[string]string{"threshold": itoa(pct), "used": itoa(l.Used), "seats": d["seats"], "available": itoa(*l.Available())}
	return s.notify(ctx, tx, l.OrganizationID, to, EventLicenseUsage, data)
}

// activeManagers returns the organization's active organization managers.
func (s *Service) activeManagers(ctx context.Context, tx Store, orgID string) ([]User, error) {
	ids, err := tx.LockActiveManagers(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []User
	for _, id := range ids {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, nil
}

// LicenseUsage is what licenseUsage answers.
type LicenseUsage struct {
	*License
	// EnrolledUsers: active users with an active factor; EnabledNotEnrolled:
	// active users MFA is required for who have none.
	EnrolledUsers      int
	EnabledNotEnrolled int
}

// mayReadLicense: organization managers and billing contacts.
func (s *Service) mayReadLicense(ctx context.Context, v *Viewer) error {
	if v.User.Can(PermissionManageOrganization) {
		return nil
	}
	ok, err := s.store.IsBillingContact(ctx, v.User.ID)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Code: CodeForbidden, Message: "only organization managers and billing contacts see the licence"}
	}
	return nil
}

// LicenseUsage answers the viewer's organization's seats and usage.
func (s *Service) LicenseUsage(ctx context.Context, v *Viewer) (*LicenseUsage, error) {
	if err := s.mayReadLicense(ctx, v); err != nil {
		return nil, err
	}
	l, err := s.license(ctx, s.store, v.User.OrganizationID)
	if err != nil {
		return nil, err
	}
	stats, err := s.store.UserMFAStats(ctx, v.User.OrganizationID, s.now())
	if err != nil {
		return nil, err
	}
	u := &LicenseUsage{License: l}
	for _, st := range stats {
		u.EnrolledUsers += st.Enrolled
		u.EnabledNotEnrolled += st.Pending
	}
	if l.mfaOff() != "" {
		u.EnabledNotEnrolled = 0
	}
	return u, nil
}

// MaxLicenseHistoryDays bounds history(days:).
const MaxLicenseHistoryDays = 366

// LicenseHistory returns one row per day for the last days days (today
// included), carrying the last known usage over days without changes.
func (s *Service) LicenseHistory(ctx context.Context, v *Viewer, days int) ([]LicenseUsageDay, error) {
	if days < 1 || days > MaxLicenseHistoryDays {
		return nil, invalidInput("days", "days must be between 1 and %d", MaxLicenseHistoryDays)
	}
	if err := s.mayReadLicense(ctx, v); err != nil {
		return nil, err
	}
	today := s.now().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(days - 1))
	rows, err := s.store.LicenseUsageSince(ctx, v.User.OrganizationID, from.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	l, err := s.license(ctx, s.store, v.User.OrganizationID)
	if err != nil {
		return nil, err
	}
	out := make([]LicenseUsageDay, 0, days)
	cur := LicenseUsageDay{}
	i := 0
	if len(rows) > 0 && rows[0].Date < from.Format(time.DateOnly) {
		cur, i = rows[0], 1
	} else if len(rows) == 0 {
		cur = LicenseUsageDay{Used: l.Used, Seats: l.Seats}
	}
	for d := from; !d.After(today); d = d.AddDate(0, 0, 1) {
		date := d.Format(time.DateOnly)
		for i < len(rows) && rows[i].Date <= date {
			cur, i = rows[i], i+1
		}
		out = append(out, LicenseUsageDay{Date: date, Used: cur.Used, Seats: cur.Seats})
	}
	return out, nil
}

// SetBillingContact marks or unmarks a user of the organization as a
// billing contact (MANAGE_ORGANIZATION): they get the usage alerts and may
// read licenseUsage.
func (s *Service) SetBillingContact(ctx context.Context, v *Viewer, userID string, on bool) (*User, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, &Error{Code: CodeForbidden, Message: "you need the MANAGE_ORGANIZATION permission"}
	}
	u, err := s.User(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.SetBillingContact(ctx, u.OrganizationID, u.ID, on); err != nil {
			return err
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditBillingContactChange, map[string]string{"billing_contact": boolString(on)})
	})
	return u, err
}

// IsBillingContact reports whether a user (of the viewer's organization,
// readable by them) is a billing contact.
func (s *Service) IsBillingContact(ctx context.Context, u *User) (bool, error) {
	return s.store.IsBillingContact(ctx, u.ID)
}

// SetOrganizationMFA is the master switch (MANAGE_ORGANIZATION). Off
// overrides every policy: nobody is asked or offered MFA, factors are kept
// dormant, and no notification is sent (not for the switch either). On
// restores the policies as they were.
func (s *Service) SetOrganizationMFA(ctx context.Context, v *Viewer, enabled bool) (*License, error) {
	if !v.User.Can(PermissionManageOrganization) {
		return nil, &Error{Code: CodeForbidden, Message: "you need the MANAGE_ORGANIZATION permission"}
	}
	var out *License
	err := s.store.Transaction(ctx, func(tx Store) error {
		l, err := tx.LockLicense(ctx, v.User.OrganizationID)
		if err != nil {
			return err
		}
		out = l
		if l.MFAEnabled == enabled {
			return nil
		}
		l.MFAEnabled, l.UpdatedAt = enabled, s.now()
		if err := tx.SaveLicense(ctx, l); err != nil {
			return err
		}
		return s.audit(ctx, tx, l.OrganizationID, v.User.ID, "", AuditOrganizationMFA, map[string]string{"enabled": boolString(enabled)})
	})
	return out, err
}

// OrganizationLicense reads the viewer's organization's licence and
// switches (the defaults when it has none).
func (s *Service) OrganizationLicense(ctx context.Context, v *Viewer) (*License, error) {
	return s.license(ctx, s.store, v.User.OrganizationID)
}
