package models_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func TestEnrollmentCompareAndSwapWinsOnce(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "alice", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		e := &mfa.Enrollment{ID: id(), UserID: u.ID, FactorType: "totp", Label: "phone", Status: mfa.EnrollmentActive,
			State: []byte("v0"), KeyID: "k1", CreatedAt: now, Metadata: map[string]string{"a": "b"}}
		if err := s.CreateEnrollment(ctx, e); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				c := *e
				c.State = []byte{byte(i)}
				err := s.Transaction(ctx, func(tx mfa.Store) error { return tx.UpdateEnrollment(ctx, &c, 0) })
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, mfa.ErrStale):
					t.Errorf("update: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d writers won the compare-and-swap, want exactly 1", wins.Load())
		}
		got, err := s.EnrollmentByID(ctx, e.ID)
		if err != nil || got.Version != 1 || got.Metadata["a"] != "b" {
			t.Fatalf("after CAS: %+v %v", got, err)
		}
	})
}

func TestTicketsAndRecoveryCodesAreSingleUse(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "alice", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		tk := &mfa.LoginTicket{ID: id(), TokenHash: "h1", OrganizationID: org.ID, UserID: u.ID, Status: mfa.StatusMFARequired, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateLoginTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeLoginTicket(ctx, tk.ID, now); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeLoginTicket(ctx, tk.ID, now); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("second consume: %v", err)
		}
		if err := s.ReplaceRecoveryCodes(ctx, u.ID, []string{"a", "b"}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRecoveryCode(ctx, u.ID, "a", now); err != nil {
			t.Fatal(err)
		}
		if err := s.UseRecoveryCode(ctx, u.ID, "a", now); !errors.Is(err, mfa.ErrNotFound) {
			t.Fatalf("reused code: %v", err)
		}
		if n, _ := s.RecoveryCodesLeft(ctx, u.ID); n != 1 {
			t.Fatalf("codes left = %d", n)
		}
	})
}
