package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// totpApp is an authenticator app: it hands out the codes of consecutive
// time steps, starting one step before now, so each use is a fresh step
// within the plugin's ±2 skew (the plugin runs on real time).
type totpApp struct {
	t        *testing.T
	secret   string
	mu       sync.Mutex
	nextStep uint64
}

func newTOTPApp(t *testing.T, secret string) *totpApp {
	return &totpApp{t: t, secret: secret, nextStep: uint64(time.Now().Unix()/30) - 1}
}

// next returns the code of the next unused step and uses it up.
func (a *totpApp) next() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	code := a.code(a.nextStep)
	a.nextStep++
	return code
}

// peek returns the code next would return, without using it up (for
// requests that must fail for another reason).
func (a *totpApp) peek() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.code(a.nextStep)
}

func (a *totpApp) code(step uint64) string {
	code, err := hotp.GenerateCodeCustom(a.secret, step, hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		a.t.Fatal(err)
	}
	return code
}

const (
	beginEnrollment    = `mutation($in: BeginEnrollmentInput!) { beginEnrollment(input: $in) { enrollmentId clientData } }`
	completeEnrollment = `mutation($in: CompleteEnrollmentInput!) { completeEnrollment(input: $in) { enrollment { id factorType label status } recoveryCodes status token } }`
	verifyFactor       = `mutation($in: VerifyFactorInput!) { verifyFactor(input: $in) { status token trustedBrowserToken user { username } } }`
	loginWithFactors   = `mutation($o: String!, $u: String!, $p: String!, $tb: String) {
  login(input: {organization: $o, username: $u, password: $p, trustedBrowserToken: $tb}) {
    status token ticket ticketExpiresAt allowedFactorTypes enforceFrom trustBrowserOffered requestedFactorTypes
    factors { id factorType label }
  }
}`
)

// enrolTOTP enrols an authenticator app for the client's user and returns
// the app, the enrollment id and the recovery codes.
func enrolTOTP(t *testing.T, c *client, extra map[string]any) (*totpApp, string, []any) {
	t.Helper()
	in := map[string]any{"factorType": "totp", "label": "phone"}
	for k, v := range extra {
		in[k] = v
	}
	d := c.must(beginEnrollment, map[string]any{"in": in})
	id := dig(d, "beginEnrollment", "enrollmentId").(string)
	secret := dig(d, "beginEnrollment", "clientData", "secret").(string)
	app := newTOTPApp(t, secret)
	cin := map[string]any{"enrollmentId": id, "response": map[string]any{"code": app.next()}}
	if tk, ok := extra["ticket"]; ok {
		cin["ticket"] = tk
	}
	d = c.must(completeEnrollment, map[string]any{"in": cin})
	if dig(d, "completeEnrollment", "enrollment", "status") != "ACTIVE" {
		t.Fatalf("enrollment not active: %v", d)
	}
	codes, _ := dig(d, "completeEnrollment", "recoveryCodes").([]any)
	return app, id, codes
}

// loginStep logs in by password and returns the login payload.
func loginStep(t *testing.T, c *client, user, password string) map[string]any {
	t.Helper()
	r := c.post(loginWithFactors, map[string]any{"o": "demo", "u": user, "p": password})
	if len(r.Errors) > 0 {
		t.Fatalf("login %s: %+v", user, r.Errors)
	}
	return r.Data["login"].(map[string]any)
}

// verify answers a login ticket.
func verify(c *client, ticket, enrollmentID string, response map[string]any, trust bool) response {
	in := map[string]any{"ticket": ticket, "response": response, "trustBrowser": trust}
	if enrollmentID != "" {
		in["enrollmentId"] = enrollmentID
	}
	return c.post(verifyFactor, map[string]any{"in": in})
}

// newUser creates a user with a password and returns an API client logged
// in as them and their id.
func newUser(t *testing.T, e *env, admin *client, name string, extra map[string]any) (*client, string) {
	t.Helper()
	in := map[string]any{"username": name, "email": name + "@example.com", "password": name + "-password-1"}
	for k, v := range extra {
		in[k] = v
	}
	id := e.createUser(admin, in)
	return e.loginAs(name, name+"-password-1"), id
}

func fmtCodes(codes []any) string { return fmt.Sprint(codes...) }
