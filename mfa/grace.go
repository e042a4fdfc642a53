package mfa

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"
)

// Enrolment grace: a policy scope may give the users it requires to enrol
// a deadline (GracePeriodDays, counted from the first login that found the
// user required and unenrolled) and/or a number of skips
// (MaxEnrollmentSkips). Until the grace is used up, an ENROLLMENT_REQUIRED
// login may be finished with the password alone (SkipEnrollment, audited);
// reminders are mailed EnrollmentReminderDays before the deadline
// (SendEnrollmentReminders). An admin's enrolment request has no grace.

// DefaultEnrollmentReminderDays are the reminder days when no policy sets
// them: a week and a day before the deadline.
var DefaultEnrollmentReminderDays = []int{7, 1}

const (
	maxGracePeriodDays    = 365
	maxEnrollmentSkips    = 100
	maxReminderDays       = 10
	maxReminderDaysBefore = 365
)

// Audit actions and reasons of the enrolment grace.
const (
	// AuditEnrollmentSkipped: a user required to enrol finished a login
	// with the password alone under the grace (details: skips_left,
	// deadline).
	AuditEnrollmentSkipped AuditAction = "login.enrollment_skipped"
	// ReasonEnrollmentSkipped is the login's mfaSkippedReason after a skip.
	ReasonEnrollmentSkipped = "ENROLLMENT_SKIPPED"
)

// EventEnrollmentReminder: to a user who must enrol before their grace
// deadline; data: deadline (RFC 3339, UTC), days_left.
const EventEnrollmentReminder Event = "mfa.enrolment_reminder"

// GraceState is one user's enrolment grace as stored: when the requirement
// first applied to them, the skips they used, and the last reminder sent
// (as days before the deadline; nil: none yet).
type GraceState struct {
	UserID         string
	OrganizationID string
	RequiredSince  time.Time
	SkipsUsed      int
	RemindedDays   *int
}

// GraceReminderCandidate is a user who must enrol and has a grace
// deadline, with the grace settings their policy resolves to (in SQL).
type GraceReminderCandidate struct {
	User            User
	State           GraceState
	GracePeriodDays int
	// ReminderDays is nil when no policy sets them (the default applies).
	ReminderDays []int
}

// GraceStore persists the enrolment grace. It is part of Store.
type GraceStore interface {
	// GraceOf reads the user's grace state; ErrNotFound when the
	// requirement never applied to them.
	GraceOf(ctx context.Context, userID string) (*GraceState, error)
	// StartGrace records that the requirement applies to the user from
	// since, unless it is already recorded (the first one stays).
	StartGrace(ctx context.Context, st *GraceState) error
	// TakeGraceSkip counts one skip if fewer than max were used (nil max:
	// no limit), in one conditional statement; taken is false otherwise.
	TakeGraceSkip(ctx context.Context, userID string, max *int) (taken bool, err error)
	// ClaimGraceReminder records that the reminder of days (before the
	// deadline) is sent, if no reminder of as many or fewer days was; it
	// says whether this call claimed it.
	ClaimGraceReminder(ctx context.Context, userID string, days int) (bool, error)
	// GraceReminderCandidates lists, across organizations in user id
	// order after afterUserID, active unenrolled users MFA is required of
	// at now whose policy gives a grace period.
	GraceReminderCandidates(ctx context.Context, now time.Time, afterUserID string, limit int) ([]GraceReminderCandidate, error)
}

// EnrollmentGrace is what an ENROLLMENT_REQUIRED login may still skip.
type EnrollmentGrace struct {
	// CanSkip: skipEnrollment may finish this login.
	CanSkip bool
	// SkipsLeft is nil when skips are not limited.
	SkipsLeft *int
	// Deadline is nil when the grace has no deadline.
	Deadline *time.Time
}

// setGrace applies p's grace settings to ep (resolve).
func setGrace(ep *EffectivePolicy, p Policy) {
	level := p.Scope.Level()
	if p.GracePeriodDays != nil {
		ep.GracePeriodDays = Setting[*int]{Value: p.GracePeriodDays, Level: level, PolicyID: p.ID}
	}
	if p.MaxEnrollmentSkips != nil {
		ep.MaxEnrollmentSkips = Setting[*int]{Value: p.MaxEnrollmentSkips, Level: level, PolicyID: p.ID}
	}
	if p.EnrollmentReminderDays != nil {
		ep.EnrollmentReminderDays = Setting[[]int]{Value: p.EnrollmentReminderDays, Level: level, PolicyID: p.ID}
	}
}

func checkReminderDays(days []int) error {
	if len(days) > maxReminderDays {
		return invalidInput("enrollmentReminderDays", "at most %d reminder days", maxReminderDays)
	}
	for _, d := range days {
		if d < 1 || d > maxReminderDaysBefore {
			return invalidInput("enrollmentReminderDays", "reminder days must be from 1 to %d", maxReminderDaysBefore)
		}
	}
	return nil
}

// hasGrace reports whether the policy gives any grace.
func (p *EffectivePolicy) hasGrace() bool {
	return p.GracePeriodDays.Value != nil || p.MaxEnrollmentSkips.Value != nil
}

// grace is what st leaves of the policy's grace at now; nil without one.
func (p *EffectivePolicy) grace(st *GraceState, now time.Time) *EnrollmentGrace {
	if !p.hasGrace() || st == nil {
		return nil
	}
	g := &EnrollmentGrace{CanSkip: true}
	if days := p.GracePeriodDays.Value; days != nil {
		d := graceDeadline(st.RequiredSince, *days)
		g.Deadline = &d
		g.CanSkip = now.Before(d)
	}
	if limit := p.MaxEnrollmentSkips.Value; limit != nil {
		left := max(0, *limit-st.SkipsUsed)
		g.SkipsLeft = &left
		g.CanSkip = g.CanSkip && left > 0
	}
	return g
}

// graceDeadline is since plus days whole days (the SQL of the lists and
// the reminder job computes the same).
func graceDeadline(since time.Time, days int) time.Time {
	return since.UTC().Add(time.Duration(days) * 24 * time.Hour)
}

// startGrace records, the first time a login finds the user required by
// policy and unenrolled, that the requirement applies from now, and
// returns the grace left (nil: the policy gives none).
func (s *Service) startGrace(ctx context.Context, user *User, pol *EffectivePolicy, now time.Time) (*EnrollmentGrace, error) {
	st, err := s.store.GraceOf(ctx, user.ID)
	if errors.Is(err, ErrNotFound) {
		// Two first logins at once both insert; the first row stays, and
		// either since is the same moment to a few milliseconds.
		st = &GraceState{UserID: user.ID, OrganizationID: user.OrganizationID, RequiredSince: now}
		err = s.store.StartGrace(ctx, st)
	}
	if err != nil {
		return nil, err
	}
	return pol.grace(st, now), nil
}

// userGrace is the grace left to a user whose login would ask them to
// enrol because of policy (nil: none, or their login would not).
func (s *Service) userGrace(ctx context.Context, st Store, u *User) (*EnrollmentGrace, *EffectivePolicy, error) {
	now := s.now()
	pol, err := s.effectivePolicy(ctx, st, u)
	if err != nil || !pol.Enforced(now) || !pol.hasGrace() {
		return nil, pol, err
	}
	// As planLogin: an admin's request, or a factor the policy allows,
	// leaves no grace to take.
	reqs, err := st.EnrollmentRequests(ctx, u.ID)
	if err != nil || len(reqs) > 0 {
		return nil, pol, err
	}
	active, err := st.Enrollments(ctx, u.ID, EnrollmentActive)
	if err != nil {
		return nil, pol, err
	}
	if slices.ContainsFunc(active, func(e Enrollment) bool { return pol.lists(e.FactorType) }) {
		return nil, pol, nil
	}
	gs, err := st.GraceOf(ctx, u.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, pol, nil
	}
	if err != nil {
		return nil, pol, err
	}
	return pol.grace(gs, now), pol, nil
}

// Refusals of skipEnrollment.
var (
	errNoGrace = &Error{Code: CodeForbidden, Reason: "NO_GRACE_PERIOD",
		Message: "you must set up a second factor to log in"}
	errGraceOver = &Error{Code: CodeForbidden, Reason: "GRACE_PERIOD_OVER",
		Message: "the time to set up a second factor has run out: set one up to log in"}
	errNoSkipsLeft = &Error{Code: CodeForbidden, Reason: "NO_SKIPS_LEFT",
		Message: "you have postponed setting up a second factor as often as you may: set one up to log in"}
)

// SkipEnrollment finishes an ENROLLMENT_REQUIRED login with the password
// alone while the user's grace lasts. The skip is counted by a conditional
// update in the transaction that consumes the ticket and issues the
// session, so two skips at once cannot both use the last one; each is
// audited.
func (s *Service) SkipEnrollment(ctx context.Context, ticket string) (*LoginResult, error) {
	ctx = withPolicyMemo(ctx)
	t, u, err := s.openTicket(ctx, ticket, StatusEnrollmentRequired)
	if err != nil {
		return nil, err
	}
	g, pol, err := s.userGrace(ctx, s.store, u)
	switch {
	case err != nil:
		return nil, err
	case g == nil:
		return nil, errNoGrace
	case g.Deadline != nil && !s.now().Before(*g.Deadline):
		return nil, errGraceOver
	case !g.CanSkip:
		return nil, errNoSkipsLeft
	}
	var res *LoginResult
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.ConsumeLoginTicket(ctx, t.ID, s.now()); err != nil {
			return err
		}
		taken, err := tx.TakeGraceSkip(ctx, u.ID, pol.MaxEnrollmentSkips.Value)
		if err != nil {
			return err
		}
		if !taken {
			return errNoSkipsLeft
		}
		d := map[string]string{"reason": "grace_period"}
		if g.SkipsLeft != nil {
			d["skips_left"] = strconv.Itoa(*g.SkipsLeft - 1)
		}
		if g.Deadline != nil {
			d["deadline"] = g.Deadline.Format(time.RFC3339)
		}
		skipped := s.auditEvent(ctx, u.OrganizationID, u.ID, u.ID, AuditEnrollmentSkipped, d)
		res, err = s.completeLogin(ctx, tx, u, false, skipped)
		return err
	})
	if errors.Is(err, ErrStale) {
		return nil, errBadTicket
	}
	if err != nil {
		return lockedResult(err)
	}
	res.MFASkippedReason = ReasonEnrollmentSkipped
	return res, nil
}

// UserGrace is the grace left to a user of the viewer's organization who
// must enrol (nil: none): their deadline and skips, for admins.
func (s *Service) UserGrace(ctx context.Context, v *Viewer, u *User) (*EnrollmentGrace, error) {
	if u.ID != v.User.ID && !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	if u.OrganizationID != v.User.OrganizationID || u.Status != UserActive {
		return nil, nil
	}
	g, _, err := s.userGrace(withPolicyMemo(ctx), s.store, u)
	return g, err
}

// SendEnrollmentReminders mails the users who must enrol before a grace
// deadline their reminders: for each, the smallest of their policy's
// reminder days that is not less than the days left (so a reminder missed
// while no server ran still goes, once). Which reminder is due is claimed
// by a conditional update in the transaction that writes the mail, so
// every server may run it and each reminder goes once. It returns how many
// were written.
func (s *Service) SendEnrollmentReminders(ctx context.Context) (int, error) {
	now := s.now()
	sent, after := 0, ""
	for {
		cs, err := s.store.GraceReminderCandidates(ctx, now, after, jobPageSize)
		if err != nil {
			return sent, err
		}
		for i := range cs {
			ok, err := s.remind(ctx, &cs[i], now)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
		if len(cs) < jobPageSize {
			return sent, nil
		}
		after = cs[len(cs)-1].User.ID
	}
}

// remind writes c's due reminder, if one is due and unclaimed.
func (s *Service) remind(ctx context.Context, c *GraceReminderCandidate, now time.Time) (bool, error) {
	deadline := graceDeadline(c.State.RequiredSince, c.GracePeriodDays)
	if !now.Before(deadline) {
		return false, nil
	}
	left := int((deadline.Sub(now) + 24*time.Hour - 1) / (24 * time.Hour))
	days := c.ReminderDays
	if days == nil {
		days = DefaultEnrollmentReminderDays
	}
	due := -1
	for _, d := range days {
		if d >= left && (due < 0 || d < due) {
			due = d
		}
	}
	if due < 0 || (c.State.RemindedDays != nil && *c.State.RemindedDays <= due) {
		return false, nil
	}
	claimed := false
	err := s.store.Transaction(ctx, func(tx Store) error {
		var err error
		if claimed, err = tx.ClaimGraceReminder(ctx, c.User.ID, due); err != nil || !claimed {
			return err
		}
		data := map[string]string{"deadline": deadline.Format(time.RFC3339), "days_left": strconv.Itoa(left)}
		return s.notify(ctx, tx, c.User.OrganizationID, []User{c.User}, EventEnrollmentReminder, data)
	})
	return claimed, err
}
