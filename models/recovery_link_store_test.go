package models_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func newLink(subject, userID string, now time.Time) *mfa.RecoveryLink {
	return &mfa.RecoveryLink{ID: uuid.Must(uuid.NewV7()).String(), Purpose: mfa.LinkMFARecovery, Subject: subject, UserID: userID,
		TokenHash: uuid.NewString() + uuid.NewString()[:28], CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
}

// TestRecoveryLinksLimitAndConsume: the per-subject limit holds under 20
// parallel inserts, counts only the window and the purpose, and a link is
// consumed once, only while unexpired and usable.
func TestRecoveryLinksLimitAndConsume(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		var stored atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				err := s.Transaction(ctx, func(tx mfa.Store) error {
					ok, err := tx.CreateRecoveryLink(ctx, newLink("subject-a", "u1", now), now.Add(-time.Hour), 3)
					if ok {
						stored.Add(1)
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := stored.Load(); n != 3 {
			t.Fatalf("%d links stored, want 3", n)
		}
		// Another subject, another purpose, or an hour later: allowed.
		other := newLink("subject-b", "", now)
		reset := newLink("subject-a", "u1", now)
		reset.Purpose = mfa.LinkPasswordReset
		later := newLink("subject-a", "u1", now.Add(time.Hour))
		for name, c := range map[string]struct {
			l     *mfa.RecoveryLink
			since time.Time
		}{"other subject": {other, now.Add(-time.Hour)}, "other purpose": {reset, now.Add(-time.Hour)}, "later": {later, now}} {
			if ok, err := s.CreateRecoveryLink(ctx, c.l, c.since, 3); err != nil || !ok {
				t.Fatalf("%s: %v %v", name, ok, err)
			}
		}
		got, err := s.RecoveryLinkByHash(ctx, mfa.LinkMFARecovery, later.TokenHash)
		if err != nil || got.UserID != "u1" || got.UsedAt != nil {
			t.Fatalf("by hash: %+v %v", got, err)
		}
		if _, err := s.RecoveryLinkByHash(ctx, mfa.LinkPasswordReset, later.TokenHash); !errors.Is(err, mfa.ErrNotFound) {
			t.Fatalf("other purpose: %v", err)
		}
		if err := s.ConsumeRecoveryLink(ctx, other.ID, now); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("a link without a user was consumed: %v", err)
		}
		if err := s.ConsumeRecoveryLink(ctx, later.ID, later.ExpiresAt); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("an expired link was consumed: %v", err)
		}
		var won atomic.Int32
		for range 8 {
			wg.Go(func() {
				if s.ConsumeRecoveryLink(ctx, later.ID, now) == nil {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("consumed %d times", won.Load())
		}
		if err := s.ConsumeUserRecoveryLinks(ctx, "u1", mfa.LinkPasswordReset, now); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeRecoveryLink(ctx, reset.ID, now); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("a revoked link was consumed: %v", err)
		}
	})
}

// TestNotificationJobCursor: a job's cursor moves by compare-and-swap, so a
// page handled by two servers is written once.
func TestNotificationJobCursor(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		s := open(t, url)
		ctx := context.Background()
		j := &mfa.NotificationJob{ID: uuid.Must(uuid.NewV7()).String(), OrganizationID: "o", Kind: "k", Data: "{}", CreatedAt: time.Now().UTC()}
		if err := s.CreateNotificationJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if err := s.AdvanceNotificationJob(ctx, j.ID, "", "u5", false); err != nil {
			t.Fatal(err)
		}
		if err := s.AdvanceNotificationJob(ctx, j.ID, "", "u5", false); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("a stale cursor moved: %v", err)
		}
		jobs, err := s.NotificationJobs(ctx, 10)
		if err != nil || len(jobs) != 1 || jobs[0].Cursor != "u5" {
			t.Fatalf("jobs: %+v %v", jobs, err)
		}
		if err := s.AdvanceNotificationJob(ctx, j.ID, "u5", "u5", true); err != nil {
			t.Fatal(err)
		}
		if jobs, _ := s.NotificationJobs(ctx, 10); len(jobs) != 0 {
			t.Fatalf("a finished job is left: %+v", jobs)
		}
	})
}
