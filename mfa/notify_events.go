package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
)

// notifyLocked tells a user, through tx, that too many failed attempts
// locked their account until the given time. Unknown names are no one to
// tell.
func (s *Service) notifyLocked(ctx context.Context, tx Store, userID, until string) error {
	if userID == "" {
		return nil
	}
	u, err := tx.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.notify(ctx, tx, u.OrganizationID, []User{*u}, EventLocked, map[string]string{"until": until})
}

// jobPolicyRequired is the fan-out of a policy change that may make MFA
// required for some of a scope's users.
const jobPolicyRequired = "policy.required"

// policyRequiredJob is a jobPolicyRequired's data: the scope and its
// settings before and after the change.
type policyRequiredJob struct {
	Scope PolicyScope    `json:"scope"`
	Old   PolicySettings `json:"old"`
	New   PolicySettings `json:"new"`
}

// jobPageSize users are handled per transaction when a job is expanded.
const jobPageSize = 500

// notifyPolicyChange tells, through tx, the users for whom a scope's change
// from old to next makes MFA required (their effective mode was not
// REQUIRED and now is), once per change. A single user's scope is handled
// here; a broader scope (which may hold 100,000 users) writes one job that
// ExpandNotificationJobs turns into mails a page at a time, each page in its
// own transaction. A change that cannot make anyone required (an
// organization switching MFA off) writes nothing.
func (s *Service) notifyPolicyChange(ctx context.Context, tx Store, orgID string, sc PolicyScope, old, next PolicySettings, target *User) error {
	if !mayRequire(old, next) {
		return nil
	}
	job := policyRequiredJob{Scope: sc, Old: old, New: next}
	if target != nil {
		return s.notifyNewlyRequired(ctx, tx, orgID, &job, []User{*target})
	}
	data, err := json.Marshal(job)
	if err != nil {
		return err
	}
	return tx.CreateNotificationJob(ctx, &NotificationJob{ID: newID(), OrganizationID: orgID, Kind: jobPolicyRequired, Data: string(data), CreatedAt: s.now()})
}

// mayRequire reports whether a scope's change can make anyone newly
// required: its mode changed, to REQUIRED or to inherited.
func mayRequire(old, next PolicySettings) bool {
	if (old.Mode == nil) == (next.Mode == nil) && (old.Mode == nil || *old.Mode == *next.Mode) {
		return false
	}
	return next.Mode == nil || *next.Mode == ModeRequired
}

// notifyNewlyRequired writes EventMFARequired, through tx, for the users
// whose effective mode the job's change turns into REQUIRED (reason: user
// for a single user's scope, else policy).
func (s *Service) notifyNewlyRequired(ctx context.Context, tx Store, orgID string, job *policyRequiredJob, users []User) error {
	var to []User
	for i := range users {
		u := &users[i]
		ps, err := tx.PoliciesFor(ctx, orgID, u.ID, u.CompanyID, u.UserType)
		if err != nil {
			return err
		}
		others := slices.DeleteFunc(ps, func(p Policy) bool { return p.Scope == job.Scope })
		before := resolve(append(slices.Clip(others), Policy{Scope: job.Scope, PolicySettings: job.Old}), u, nil, s.cfg)
		after := resolve(append(slices.Clip(others), Policy{Scope: job.Scope, PolicySettings: job.New}), u, nil, s.cfg)
		if before.Mode.Value != ModeRequired && after.Mode.Value == ModeRequired {
			to = append(to, *u)
		}
	}
	reason := "policy"
	if job.Scope.UserID != "" {
		reason = "user"
	}
	return s.notify(ctx, tx, orgID, to, EventMFARequired, map[string]string{"reason": reason})
}

// ExpandNotificationJobs turns pending notification fan-outs into outbox
// rows, one page of users per transaction, and returns how many users it
// went through. Every server may run it at any time: a page is claimed by
// moving the job's cursor with compare-and-swap in the page's own
// transaction, so two servers never write a page twice, and a crash
// resumes after the last committed page.
func (s *Service) ExpandNotificationJobs(ctx context.Context) (int, error) {
	jobs, err := s.store.NotificationJobs(ctx, 10)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range jobs {
		for {
			done, handled, err := s.expandPage(ctx, &jobs[i])
			n += handled
			if errors.Is(err, ErrStale) {
				break // another server is on it
			}
			if err != nil {
				return n, err
			}
			if done {
				break
			}
		}
	}
	return n, nil
}

// expandPage handles the next page of a job's users.
func (s *Service) expandPage(ctx context.Context, j *NotificationJob) (done bool, n int, err error) {
	var job policyRequiredJob
	if j.Kind != jobPolicyRequired || json.Unmarshal([]byte(j.Data), &job) != nil {
		s.log.WarnContext(ctx, "dropping a notification job that cannot be read", "job", j.ID, "kind", j.Kind)
		return true, 0, s.store.AdvanceNotificationJob(ctx, j.ID, j.Cursor, j.Cursor, true)
	}
	users, err := s.store.UsersInScope(ctx, j.OrganizationID, job.Scope, j.Cursor, jobPageSize)
	if err != nil {
		return false, 0, err
	}
	next := j.Cursor
	if len(users) > 0 {
		next = users[len(users)-1].ID
	}
	done = len(users) < jobPageSize
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.AdvanceNotificationJob(ctx, j.ID, j.Cursor, next, done); err != nil {
			return err
		}
		return s.notifyNewlyRequired(ctx, tx, j.OrganizationID, &job, users)
	})
	if err != nil {
		return false, 0, err
	}
	j.Cursor = next
	return done, len(users), nil
}
