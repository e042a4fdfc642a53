package mfa_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
)

// Statement budgets of the login hot path (BEGIN and COMMIT not counted),
// the numbers the README gives. A change that adds a query to a login
// fails here and must say why.
const (
	// licence: the organization's seats, subscription, master switch and
	// suspension, read with the policies (issue 11).
	stmtsPasswordLogin = 10 // org, user, policies, licence, attempt slot, factors, requests; login row, session, audit
	stmtsPasswordStep  = 9  // org, user, policies, licence, attempt slot, factors, requests, slot back, ticket
	stmtsVerifyTOTP    = 10 // ticket with its user, enrollment, policies, licence, attempt slot; state CAS, ticket, login row, session, audit (the organization's slug is cached)
)

func TestLoginStatementCounts(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		// The TOTP factor in process, on the service's clock.
		svc := newServiceWith(t, url, now, host.NewStatic(totpfactor.New(totpfactor.WithClock(func() time.Time { return now }))))
		if _, err := svc.Bootstrap(ctx, "acme", "admin", "admin-password-1"); err != nil {
			t.Fatal(err)
		}
		count := func(name string, budget int, fn func(ctx context.Context)) {
			t.Helper()
			cctx, n := models.CountStatements(ctx)
			fn(cctx)
			t.Logf("%s: %d statements", name, n.Load())
			if int(n.Load()) > budget {
				t.Errorf("%s ran %d statements, budget %d", name, n.Load(), budget)
			}
		}
		login := func(ctx context.Context) *mfa.LoginResult {
			res, err := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		var res *mfa.LoginResult
		count("password login", stmtsPasswordLogin, func(ctx context.Context) { res = login(ctx) })
		if res.Status != mfa.StatusAuthenticated {
			t.Fatalf("login: %v", res.Status)
		}
		v, err := svc.Authenticate(ctx, res.Token)
		if err != nil {
			t.Fatal(err)
		}
		begin, err := svc.BeginEnrollment(ctx, v, mfa.BeginEnrollmentRequest{FactorType: "totp", Label: "phone"})
		if err != nil {
			t.Fatal(err)
		}
		var cd totpfactor.ClientData
		_ = json.Unmarshal(begin.ClientData, &cd)
		code, _ := json.Marshal(map[string]string{"code": totpfactor.Code(cd.Secret, now.Add(-30*time.Second))})
		if _, err := svc.CompleteEnrollment(ctx, v, mfa.CompleteEnrollmentRequest{EnrollmentID: begin.Enrollment.ID, Response: code}); err != nil {
			t.Fatal(err)
		}
		count("password step", stmtsPasswordStep, func(ctx context.Context) { res = login(ctx) })
		if res.Status != mfa.StatusMFARequired {
			t.Fatalf("login with a factor: %v", res.Status)
		}
		code, _ = json.Marshal(map[string]string{"code": totpfactor.Code(cd.Secret, now)})
		count("verifyFactor (TOTP)", stmtsVerifyTOTP, func(ctx context.Context) {
			out, err := svc.VerifyFactor(ctx, mfa.VerifyRequest{Ticket: res.Ticket, EnrollmentID: begin.Enrollment.ID, Response: code})
			if err != nil || out.Status != mfa.StatusAuthenticated {
				t.Fatalf("verify: %v %v", out, err)
			}
		})
	})
}
