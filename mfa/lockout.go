package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"time"
)

// AttemptSubject is what an attempt counts against: a user, or, for a login
// name that matches no active user, the organization and that name (Key),
// so that an unknown name locks exactly as a real user does and the answers
// tell nothing.
type AttemptSubject struct {
	UserID string
	// Key is the hex SHA-256 of the lower-cased organization slug and login
	// name, when UserID is empty.
	Key string
}

// nameSubject is the subject of a login name that matches no active user.
func nameSubject(orgSlug, login string) AttemptSubject {
	sum := sha256.Sum256([]byte(strings.ToLower(orgSlug) + "\x00" + strings.ToLower(login)))
	return AttemptSubject{Key: hex.EncodeToString(sum[:])}
}

// errAttemptsLocked refuses a secret of a locked user outside a login (the
// current password of a password change).
var errAttemptsLocked = &Error{Code: CodeRateLimited, Reason: "LOCKED", Message: "too many failed attempts; try again later"}

// attemptWait bounds how long an attempt waits for a slot while other
// attempts on the same subject are being checked.
const attemptWait = 5 * time.Second

// attempt is one secret (password, code, recovery code, assertion) about to
// be checked. Every secret is checked only inside a slot taken atomically
// in the database beforehand: at most max wrong secrets of a subject are
// ever checked per lock window, however many servers receive them at once.
// An attempt in flight counts as a failure until it is decided.
type attempt struct {
	s       *Service
	sub     AttemptSubject
	orgID   string // for the audit log; "" when the organization is unknown
	max     int
	lockFor time.Duration
}

// beginAttempt takes a slot for a secret of sub. It answers locked (and
// takes no slot) when sub is locked, or becomes locked while waiting for a
// slot.
func (s *Service) beginAttempt(ctx context.Context, sub AttemptSubject, orgID string, max int, lockFor time.Duration) (a *attempt, locked bool, err error) {
	a = &attempt{s: s, sub: sub, orgID: orgID, max: max, lockFor: lockFor}
	deadline := time.Now().Add(attemptWait)
	pause := 5 * time.Millisecond
	for {
		taken, locked, err := s.store.TakeAttempt(ctx, sub, s.now(), max)
		switch {
		case err != nil:
			return nil, false, err
		case taken:
			return a, false, nil
		case locked:
			return nil, true, nil
		}
		// Every slot is held by attempts being checked. Wait for one to be
		// given back or for them to lock the subject; slots that a crashed
		// server never gave back lock it once the wait is over.
		if time.Now().After(deadline) {
			locked, _, err := s.store.LockAttempts(ctx, sub, s.now(), max, s.now().Add(lockFor))
			if err != nil {
				return nil, false, err
			}
			if locked {
				return nil, true, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(pause/2 + rand.N(pause)):
		}
		pause = min(pause*2, 50*time.Millisecond)
	}
}

// failed records that the secret was wrong: the slot stays counted, the
// subject is locked if the count reached the limit, and the failure is
// audited with reason. It says whether the subject is now locked.
func (a *attempt) failed(ctx context.Context, reason string, details map[string]string) (bool, error) {
	s := a.s
	now := s.now()
	locked, justLocked, err := s.store.LockAttempts(ctx, a.sub, now, a.max, now.Add(a.lockFor))
	if err != nil {
		return false, err
	}
	// An unknown organization's attempts are audited too, without an
	// organization (the deployment's own record of them): the answer costs
	// the same work as for a known one.
	if details == nil {
		details = map[string]string{}
	}
	details["reason"] = reason
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := s.audit(ctx, tx, a.orgID, "", a.sub.UserID, AuditLoginFailed, details); err != nil {
			return err
		}
		if !justLocked {
			return nil
		}
		until := now.Add(a.lockFor).Format(time.RFC3339)
		if err := s.audit(ctx, tx, a.orgID, "", a.sub.UserID, AuditLoginLocked, map[string]string{"until": until}); err != nil {
			return err
		}
		return s.notifyLocked(ctx, tx, a.sub.UserID, until)
	})
	if justLocked {
		s.obs().Lockout()
	}
	return locked, err
}

// release gives the slot back: the secret was right, or was never checked
// (a factor was unavailable).
func (a *attempt) release(ctx context.Context) error {
	return a.s.store.ReleaseAttempt(context.WithoutCancel(ctx), a.sub)
}

// refuseLocked answers a locked subject: the secret is not checked, but a
// password costs the same as a checked one, and the refusal is audited.
func (s *Service) refuseLocked(ctx context.Context, orgID, subjectID string, details map[string]string) (*LoginResult, error) {
	if details == nil {
		details = map[string]string{}
	}
	details["reason"] = "locked"
	if err := s.audit(ctx, s.store, orgID, "", subjectID, AuditLoginLocked, details); err != nil {
		return nil, err
	}
	return &LoginResult{Status: StatusLocked}, nil
}

// userAttempt takes a slot for a secret of an active user, under the
// lockout rule of the user's policy.
func (s *Service) userAttempt(ctx context.Context, user *User) (*attempt, bool, error) {
	maxAttempts, lockFor := s.lockoutRule(ctx, user)
	return s.beginAttempt(ctx, AttemptSubject{UserID: user.ID}, user.OrganizationID, maxAttempts, lockFor)
}
