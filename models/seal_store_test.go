package models_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func TestSealKeyIDsInUse(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "alice", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, k := range []string{"k1", "k2", "k1"} {
			if err := s.CreateEnrollment(ctx, &mfa.Enrollment{ID: id(), UserID: u.ID, FactorType: "totp", Label: "phone",
				Status: mfa.EnrollmentActive, State: []byte("x"), KeyID: k, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		ticket := func(hash, key string, expires time.Time, consumed bool) {
			tk := &mfa.LoginTicket{ID: id(), TokenHash: hash, OrganizationID: org.ID, UserID: u.ID, Status: mfa.StatusMFARequired,
				CreatedAt: now, ExpiresAt: expires}
			if err := s.CreateLoginTicket(ctx, tk); err != nil {
				t.Fatal(err)
			}
			if key == "" {
				return
			}
			tk.Challenge, tk.ChallengeKeyID, tk.ChallengeEnrollmentID = []byte("c"), key, id()
			if err := s.SetTicketChallenge(ctx, tk); err != nil {
				t.Fatal(err)
			}
			if consumed {
				if err := s.ConsumeLoginTicket(ctx, tk.ID, now); err != nil {
					t.Fatal(err)
				}
			}
		}
		ticket("live", "k3", now.Add(time.Minute), false)
		ticket("none", "", now.Add(time.Minute), false)
		ticket("expired", "k4", now.Add(-time.Second), false)
		ticket("used", "k5", now.Add(time.Minute), true)
		got, err := s.SealKeyIDs(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"k1", "k2", "k3"}; !slices.Equal(got, want) {
			t.Fatalf("key ids in use %v, want %v (expired and consumed tickets need no key)", got, want)
		}
	})
}
