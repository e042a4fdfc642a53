package mfa_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// healthRegistry installs factor types by id, each up (true) or down.
type healthRegistry map[string]bool

func (r healthRegistry) Factor(string) (factors.Factor, bool) { return nil, false }
func (r healthRegistry) Types() []factors.Status {
	out := []factors.Status{}
	for id, up := range r {
		out = append(out, factors.Status{DescribeResponse: factors.DescribeResponse{ID: id}, Healthy: up})
	}
	return out
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func newService(t *testing.T, url string, now time.Time) *mfa.Service {
	t.Helper()
	return newServiceWith(t, url, now, fixedRegistry{"totp", "passkey", "hardwarekey"})
}

func newServiceWith(t *testing.T, url string, now time.Time, reg mfa.Registry) *mfa.Service {
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
		mfa.WithKeyring(ring), mfa.WithClock(fixedClock{now}), mfa.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

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
		set := func(sc mfa.PolicyScope, ps mfa.PolicyPatch) {
			if _, err := svc.SetPolicy(ctx, admin, mfa.SetPolicyRequest{Scope: sc, Patch: ps}); err != nil {
				t.Fatalf("set %+v: %v", sc, err)
			}
		}
		// Organization: REQUIRED from a future date, short trust, all types.
		set(mfa.PolicyScope{}, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), EnforceFrom: mfa.To(future), TrustedBrowserDays: mfa.To(30), MaxFailedAttempts: mfa.To(7)})
		// User type: suppliers barred from MFA.
		set(mfa.PolicyScope{UserType: "supplier"}, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeDisabled), LockoutMinutes: mfa.To(60)})
		// Company: TOTP and passkeys only.
		set(mfa.PolicyScope{CompanyID: acme.ID}, mfa.PolicyPatch{AllowedFactorTypes: mfa.To([]string{"totp", "passkey"}), AllowPasswordless: mfa.To(false)})
		// Company + user type: case managers at Acme required now.
		set(mfa.PolicyScope{CompanyID: acme.ID, UserType: "case_manager"}, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), TrustedBrowserDays: mfa.To(0)})
		// User: one case manager allowed only passkeys and 3 attempts.
		set(mfa.PolicyScope{UserID: users["the-user"]}, mfa.PolicyPatch{AllowedFactorTypes: mfa.To([]string{"passkey"}), MaxFailedAttempts: mfa.To(3)})

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

// policyEnv is an organization with an admin, for policy tests.
type policyEnv struct {
	ctx   context.Context
	svc   *mfa.Service
	admin *mfa.Viewer
}

func newPolicyEnv(t *testing.T, url string, now time.Time, reg mfa.Registry) *policyEnv {
	t.Helper()
	e := &policyEnv{ctx: context.Background(), svc: newServiceWith(t, url, now, reg)}
	if _, err := e.svc.Bootstrap(e.ctx, "acme", "admin", "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	e.admin = e.login(t, url, reg, now)
	return e
}

func (e *policyEnv) login(t *testing.T, url string, reg mfa.Registry, now time.Time) *mfa.Viewer {
	t.Helper()
	res, err := e.svc.Login(e.ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Authenticate(e.ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// user creates a user with a password.
func (e *policyEnv) user(t *testing.T, name string) string {
	t.Helper()
	u, err := e.svc.CreateUser(e.ctx, e.admin, mfa.CreateUserInput{Username: name, Email: name + "@example.com", Password: name + "-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func (e *policyEnv) policy(t *testing.T, sc mfa.PolicyScope) *mfa.Policy {
	t.Helper()
	ps, err := e.svc.Policies(e.ctx, e.admin, mfa.PolicyScope{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Scope == sc {
			return &p
		}
	}
	return nil
}

// events lists the organization's events of one action, oldest first.
func (e *policyEnv) events(t *testing.T, action mfa.AuditAction) []mfa.AuditEvent {
	t.Helper()
	l, err := e.svc.AuditEvents(e.ctx, e.admin, mfa.AuditFilter{Action: action}, mfa.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	evs := l.Items
	slices.Reverse(evs)
	return evs
}

func errCode(err error) (mfa.Code, string, string) {
	var me *mfa.Error
	if !errors.As(err, &me) {
		return "", "", ""
	}
	return me.Code, me.Field, me.Reason
}

func TestSetPolicyPatchesAndAuditsEachChange(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	modelstest.Each(t, func(t *testing.T, url string) {
		e := newPolicyEnv(t, url, now, fixedRegistry{"totp", "passkey", "hardwarekey"})
		e.user(t, "bob")
		org := mfa.PolicyScope{}
		set := func(p mfa.PolicyPatch) *mfa.Policy {
			t.Helper()
			got, err := e.svc.SetPolicy(e.ctx, e.admin, mfa.SetPolicyRequest{Scope: org, Patch: p})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		set(mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), AllowedFactorTypes: mfa.To([]string{"totp"}), MaxFailedAttempts: mfa.To(7)})

		// The bug: sending only trustedBrowserDays cleared the mode.
		got := set(mfa.PolicyPatch{TrustedBrowserDays: mfa.To(30)})
		want := mfa.PolicySettings{Mode: ptr(mfa.ModeRequired), AllowedFactorTypes: []string{"totp"}, MaxFailedAttempts: ptr(7), TrustedBrowserDays: ptr(30)}
		if diff := cmpDiff(want, got.PolicySettings); diff != "" {
			t.Fatalf("answer after patching trustedBrowserDays:\n%s", diff)
		}
		if diff := cmpDiff(want, e.policy(t, org).PolicySettings); diff != "" {
			t.Fatalf("stored after patching trustedBrowserDays:\n%s", diff)
		}
		res, err := e.svc.Login(e.ctx, mfa.LoginRequest{Organization: "acme", Username: "bob", Password: "bob-password-1"})
		if err != nil || res.Status != mfa.StatusEnrollmentRequired || res.Token != "" {
			t.Fatalf("login without a factor under the patched REQUIRED policy: %+v %v", res, err)
		}

		// null clears (inherit); the other fields stay.
		got = set(mfa.PolicyPatch{MaxFailedAttempts: mfa.Cleared[int](), AllowedFactorTypes: mfa.Cleared[[]string]()})
		want = mfa.PolicySettings{Mode: ptr(mfa.ModeRequired), TrustedBrowserDays: ptr(30)}
		if diff := cmpDiff(want, got.PolicySettings); diff != "" {
			t.Fatalf("after clearing:\n%s", diff)
		}
		if diff := cmpDiff(want, e.policy(t, org).PolicySettings); diff != "" {
			t.Fatalf("stored after clearing:\n%s", diff)
		}

		// A patch that changes nothing writes nothing.
		set(mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), TrustedBrowserDays: mfa.To(30)})

		evs := e.events(t, mfa.AuditPolicyChanged)
		scope := map[string]string{"scope": "ORGANIZATION", "company_id": "", "user_type": ""}
		with := func(kv ...string) map[string]string {
			d := map[string]string{}
			for k, v := range scope {
				d[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				d[kv[i]] = kv[i+1]
			}
			return d
		}
		wantDetails := []map[string]string{
			with("mode.old", "", "mode.new", "REQUIRED", "allowed_factor_types.old", "", "allowed_factor_types.new", `["totp"]`,
				"max_failed_attempts.old", "", "max_failed_attempts.new", "7"),
			with("trusted_browser_days.old", "", "trusted_browser_days.new", "30"),
			with("max_failed_attempts.old", "7", "max_failed_attempts.new", "", "allowed_factor_types.old", `["totp"]`, "allowed_factor_types.new", ""),
		}
		var gotDetails []map[string]string
		for _, ev := range evs {
			gotDetails = append(gotDetails, ev.Details)
			if ev.ActorID != e.admin.User.ID {
				t.Fatalf("actor %q", ev.ActorID)
			}
		}
		if diff := cmp.Diff(wantDetails, gotDetails); diff != "" {
			t.Fatalf("policy.changed details:\n%s", diff)
		}

		// Clearing the scope records what it had.
		if err := e.svc.ClearPolicy(e.ctx, e.admin, org); err != nil {
			t.Fatal(err)
		}
		cleared := e.events(t, mfa.AuditPolicyCleared)
		if len(cleared) != 1 {
			t.Fatalf("policy.cleared events: %d", len(cleared))
		}
		if diff := cmp.Diff(with("mode.old", "REQUIRED", "mode.new", "", "trusted_browser_days.old", "30", "trusted_browser_days.new", ""), cleared[0].Details); diff != "" {
			t.Fatalf("policy.cleared details:\n%s", diff)
		}
	})
}

func TestRequiredPolicyMustAllowAnInstalledFactor(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	modelstest.Each(t, func(t *testing.T, url string) {
		e := newPolicyEnv(t, url, now, fixedRegistry{"totp", "passkey"})
		company, err := e.svc.CreateCompany(e.ctx, e.admin, "Northwind")
		if err != nil {
			t.Fatal(err)
		}
		bob := e.user(t, "bob")
		org, comp, user := mfa.PolicyScope{}, mfa.PolicyScope{CompanyID: company.ID}, mfa.PolicyScope{UserID: bob}
		set := func(sc mfa.PolicyScope, p mfa.PolicyPatch) error {
			_, err := e.svc.SetPolicy(e.ctx, e.admin, mfa.SetPolicyRequest{Scope: sc, Patch: p})
			return err
		}
		refused := func(name string, sc mfa.PolicyScope, p mfa.PolicyPatch, reason string) {
			t.Helper()
			before, events := e.policy(t, sc), len(e.events(t, mfa.AuditPolicyChanged))
			code, field, r := errCode(set(sc, p))
			if code != mfa.CodeBadUserInput || field != "allowedFactorTypes" || r != reason {
				t.Fatalf("%s: got %s %s %s, want BAD_USER_INPUT allowedFactorTypes %s", name, code, field, r, reason)
			}
			if diff := cmp.Diff(before, e.policy(t, sc)); diff != "" {
				t.Fatalf("%s: a refused patch changed the policy:\n%s", name, diff)
			}
			if n := len(e.events(t, mfa.AuditPolicyChanged)); n != events {
				t.Fatalf("%s: a refused patch was audited", name)
			}
		}
		refused("REQUIRED with []", org, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), AllowedFactorTypes: mfa.To([]string{})}, "REQUIREMENT_UNMEETABLE")
		refused("REQUIRED with an uninstalled type", org, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), AllowedFactorTypes: mfa.To([]string{"hardwarekey"})}, "")

		// OPTIONAL with [] is a way to offer nothing: fine.
		if err := set(org, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeOptional), AllowedFactorTypes: mfa.To([]string{})}); err != nil {
			t.Fatal(err)
		}
		// ...but making it REQUIRED without a type, on the merged result.
		refused("patch mode onto []", org, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)}, "REQUIREMENT_UNMEETABLE")
		// A narrower scope REQUIRED that inherits [] from the organization.
		refused("company REQUIRED inheriting []", comp, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)}, "REQUIREMENT_UNMEETABLE")
		refused("user REQUIRED inheriting []", user, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)}, "REQUIREMENT_UNMEETABLE")
		// With its own list, it can be met.
		if err := set(comp, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), AllowedFactorTypes: mfa.To([]string{"totp"})}); err != nil {
			t.Fatal(err)
		}
		// Emptying that list afterwards is refused, and the scope keeps it.
		refused("patch [] onto REQUIRED", comp, mfa.PolicyPatch{AllowedFactorTypes: mfa.To([]string{})}, "REQUIREMENT_UNMEETABLE")
		refused("clear the list onto REQUIRED inheriting []", comp, mfa.PolicyPatch{AllowedFactorTypes: mfa.Cleared[[]string]()}, "REQUIREMENT_UNMEETABLE")

		// A scope listing only a type that is later uninstalled cannot be made
		// REQUIRED by another server that lacks it.
		if err := set(user, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeOptional), AllowedFactorTypes: mfa.To([]string{"passkey"})}); err != nil {
			t.Fatal(err)
		}
		other := &policyEnv{ctx: e.ctx, svc: newServiceWith(t, url, now, fixedRegistry{"totp"}), admin: e.admin}
		e = other
		refused("REQUIRED over a listed type no longer installed", user, mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired)}, "REQUIREMENT_UNMEETABLE")
		// Unrelated edits of that scope still go through.
		if err := set(user, mfa.PolicyPatch{TrustedBrowserDays: mfa.To(7)}); err != nil {
			t.Fatalf("unrelated edit of a scope listing an uninstalled type: %v", err)
		}
	})
}

func TestLoginAnswersUnavailableWhenNoRequiredFactorCanBeChecked(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	modelstest.Each(t, func(t *testing.T, url string) {
		reg := healthRegistry{"totp": true, "passkey": true}
		e := newPolicyEnv(t, url, now, reg)
		e.user(t, "bob")
		e.user(t, "carol")
		if _, err := e.svc.SetPolicy(e.ctx, e.admin, mfa.SetPolicyRequest{Scope: mfa.PolicyScope{},
			Patch: mfa.PolicyPatch{Mode: mfa.To(mfa.ModeRequired), AllowedFactorTypes: mfa.To([]string{"totp"})}}); err != nil {
			t.Fatal(err)
		}
		login := func(name string) (*mfa.LoginResult, error) {
			return e.svc.Login(e.ctx, mfa.LoginRequest{Organization: "acme", Username: name, Password: name + "-password-1"})
		}
		if res, err := login("bob"); err != nil || res.Status != mfa.StatusEnrollmentRequired {
			t.Fatalf("plugin up: %+v %v", res, err)
		}
		// The only allowed type goes down; passkey (not allowed) stays up.
		reg["totp"] = false
		res, err := login("carol")
		if code, _, reason := errCode(err); code != mfa.CodeUnavailable || reason != "FACTORS_UNAVAILABLE" || res != nil {
			t.Fatalf("allowed plugin down: %+v %v, want UNAVAILABLE FACTORS_UNAVAILABLE and no session", res, err)
		}
		evs := e.events(t, mfa.AuditLoginUnavailable)
		if len(evs) != 1 || evs[0].Details["reason"] != "factors_unavailable" || evs[0].Details["factor_types"] != "totp" {
			t.Fatalf("login.unavailable events: %+v", evs)
		}
		if ok := e.events(t, mfa.AuditLoginSucceeded); len(ok) != 1 { // the admin's own login only
			t.Fatalf("a login succeeded while its factor could not be checked: %+v", ok)
		}
		// Not installed at all (a server without the plugin): the same.
		e.svc = newServiceWith(t, url, now, healthRegistry{"passkey": true})
		if _, err := login("carol"); !isCode(err, mfa.CodeUnavailable) {
			t.Fatalf("allowed plugin not installed: %v", err)
		}
		// Back up: the login goes on.
		e.svc = newServiceWith(t, url, now, healthRegistry{"totp": true})
		if res, err := login("carol"); err != nil || res.Status != mfa.StatusEnrollmentRequired {
			t.Fatalf("plugin back: %+v %v", res, err)
		}
	})
}

func isCode(err error, c mfa.Code) bool {
	code, _, _ := errCode(err)
	return code == c
}

func ptr[T any](v T) *T { return &v }
