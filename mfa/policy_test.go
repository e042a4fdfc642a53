package mfa_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
)

// fixedRegistry installs factor types by id without plugins: policy
// resolution only needs their names.
type fixedRegistry []string

func (r fixedRegistry) Factor(string) (factors.Factor, bool) { return nil, false }
func (r fixedRegistry) Types() []factors.Status {
	out := make([]factors.Status, len(r))
	for i, id := range r {
		out[i] = factors.Status{DescribeResponse: factors.DescribeResponse{ID: id}, Healthy: true}
	}
	return out
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func newService(t *testing.T, url string, now time.Time) *mfa.Service {
	t.Helper()
	store, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, _ := mfa.NewKeyring(key)
	svc, err := mfa.New(store, mfa.Config{Password: mfa.PasswordConfig{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256}},
		mfa.WithKeyring(ring), mfa.WithClock(fixedClock{now}), mfa.WithRegistry(fixedRegistry{"totp", "passkey", "hardwarekey"}))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func ptr[T any](v T) *T { return &v }

func TestPolicyResolutionAcrossScopes(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	future := now.Add(30 * 24 * time.Hour)
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc := newService(t, url, now)
		if _, err := svc.Bootstrap(ctx, "acme", "admin", "admin-password-1"); err != nil {
			t.Fatal(err)
		}
		res, err := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"})
		if err != nil {
			t.Fatal(err)
		}
		admin, err := svc.Authenticate(ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		acme, _ := svc.CreateCompany(ctx, admin, "Acme Legal")
		other, _ := svc.CreateCompany(ctx, admin, "Other Co")
		mk := func(name, companyID, userType string) string {
			u, err := svc.CreateUser(ctx, admin, mfa.CreateUserInput{Username: name, Email: name + "@example.com", CompanyID: companyID, UserType: userType})
			if err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		users := map[string]string{
			"cm-acme":   mk("cm-acme", acme.ID, "case_manager"),
			"cm-other":  mk("cm-other", other.ID, "case_manager"),
			"sup-acme":  mk("sup-acme", acme.ID, "supplier"),
			"plain":     mk("plain", "", ""),
			"the-user":  mk("the-user", acme.ID, "case_manager"),
			"sup-alone": mk("sup-alone", "", "supplier"),
		}
		set := func(sc mfa.PolicyScope, ps mfa.PolicySettings) {
			if _, err := svc.SetPolicy(ctx, admin, mfa.SetPolicyRequest{Scope: sc, PolicySettings: ps}); err != nil {
				t.Fatalf("set %+v: %v", sc, err)
			}
		}
		// Organization: REQUIRED from a future date, short trust, all types.
		set(mfa.PolicyScope{}, mfa.PolicySettings{Mode: ptr(mfa.ModeRequired), EnforceFrom: &future, TrustedBrowserDays: ptr(30), MaxFailedAttempts: ptr(7)})
		// User type: suppliers barred from MFA.
		set(mfa.PolicyScope{UserType: "supplier"}, mfa.PolicySettings{Mode: ptr(mfa.ModeDisabled), LockoutMinutes: ptr(60)})
		// Company: TOTP and passkeys only.
		set(mfa.PolicyScope{CompanyID: acme.ID}, mfa.PolicySettings{AllowedFactorTypes: []string{"totp", "passkey"}, AllowPasswordless: ptr(false)})
		// Company + user type: case managers at Acme required now.
		set(mfa.PolicyScope{CompanyID: acme.ID, UserType: "case_manager"}, mfa.PolicySettings{Mode: ptr(mfa.ModeRequired), TrustedBrowserDays: ptr(0)})
		// User: one case manager allowed only passkeys and 3 attempts.
		set(mfa.PolicyScope{UserID: users["the-user"]}, mfa.PolicySettings{AllowedFactorTypes: []string{"passkey"}, MaxFailedAttempts: ptr(3)})

		type want struct {
			mode          mfa.MfaMode
			modeFrom      mfa.ScopeLevel
			enforced      bool
			allowed       []string
			allowedFrom   mfa.ScopeLevel
			trustDays     int
			trustFrom     mfa.ScopeLevel
			attempts      int
			attemptsFrom  mfa.ScopeLevel
			lockout       int
			lockoutFrom   mfa.ScopeLevel
			passwordless  bool
			passwordlFrom mfa.ScopeLevel
		}
		all := []string{"totp", "passkey", "hardwarekey"}
		cases := map[string]want{
			"plain": {mfa.ModeRequired, mfa.LevelOrganization, false, all, mfa.LevelDefault, 30, mfa.LevelOrganization,
				7, mfa.LevelOrganization, 15, mfa.LevelDefault, true, mfa.LevelDefault},
			"sup-alone": {mfa.ModeDisabled, mfa.LevelUserType, false, all, mfa.LevelDefault, 30, mfa.LevelOrganization,
				7, mfa.LevelOrganization, 60, mfa.LevelUserType, true, mfa.LevelDefault},
			"sup-acme": {mfa.ModeDisabled, mfa.LevelUserType, false, []string{"totp", "passkey"}, mfa.LevelCompany, 30, mfa.LevelOrganization,
				7, mfa.LevelOrganization, 60, mfa.LevelUserType, false, mfa.LevelCompany},
			"cm-other": {mfa.ModeRequired, mfa.LevelOrganization, false, all, mfa.LevelDefault, 30, mfa.LevelOrganization,
				7, mfa.LevelOrganization, 15, mfa.LevelDefault, true, mfa.LevelDefault},
			"cm-acme": {mfa.ModeRequired, mfa.LevelCompanyUserType, true, []string{"totp", "passkey"}, mfa.LevelCompany, 0, mfa.LevelCompanyUserType,
				7, mfa.LevelOrganization, 15, mfa.LevelDefault, false, mfa.LevelCompany},
			"the-user": {mfa.ModeRequired, mfa.LevelCompanyUserType, true, []string{"passkey"}, mfa.LevelUser, 0, mfa.LevelCompanyUserType,
				3, mfa.LevelUser, 15, mfa.LevelDefault, false, mfa.LevelCompany},
		}
		for name, w := range cases {
			t.Run(name, func(t *testing.T) {
				p, err := svc.EffectivePolicy(ctx, admin, users[name])
				if err != nil {
					t.Fatal(err)
				}
				got := want{p.Mode.Value, p.Mode.Level, svc.PolicyEnforced(p), p.AllowedFactorTypes.Value, p.AllowedFactorTypes.Level,
					p.TrustedBrowserDays.Value, p.TrustedBrowserDays.Level, p.MaxFailedAttempts.Value, p.MaxFailedAttempts.Level,
					p.LockoutMinutes.Value, p.LockoutMinutes.Level, p.AllowPasswordless.Value, p.AllowPasswordless.Level}
				if diff := cmpDiff(w, got); diff != "" {
					t.Fatalf("effective policy mismatch:\n%s", diff)
				}
			})
		}
		// Clearing the company + type scope falls back to the company and the
		// organization's future enforcement.
		if err := svc.ClearPolicy(ctx, admin, mfa.PolicyScope{CompanyID: acme.ID, UserType: "case_manager"}); err != nil {
			t.Fatal(err)
		}
		p, _ := svc.EffectivePolicy(ctx, admin, users["cm-acme"])
		if p.Mode.Level != mfa.LevelOrganization || svc.PolicyEnforced(p) || p.EnforceFrom.Value == nil || !p.EnforceFrom.Value.Equal(future) {
			t.Fatalf("after clear: mode from %s, enforced %v, from %v", p.Mode.Level, svc.PolicyEnforced(p), p.EnforceFrom.Value)
		}
	})
}
