package webauthnfactor_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

const (
	origin     = "http://localhost:8080"
	evilOrigin = "http://evil.test:8080"
)

var (
	ctx   = context.Background()
	alice = factors.User{ID: "0190d6f4-3b0a-7cc1-9a57-00000000a11c", Name: "alice", DisplayName: "Alice"}
	bob   = factors.User{ID: "0190d6f4-3b0a-7cc1-9a57-000000000b0b", Name: "bob", DisplayName: "Bob"}
	yubi  = uuid.MustParse("cb69481e-8ff7-4039-93ec-0a2729a154a8")

	// vendor is the security key vendor the tests trust: newFactor adds its
	// root to a security key factor's attestation_roots.
	vendor = mustIssuer()

	// passkeyDevice is a synced passkey provider; securityKey a YubiKey.
	passkeyDevice = webauthntest.Options{Attestation: webauthntest.AttestationNone, BackupEligible: true, BackupState: true, Transports: []string{"internal", "hybrid"}}
	securityKey   = webauthntest.Options{AAGUID: yubi, Attestation: webauthntest.AttestationBasic, Issuer: vendor, UserNotVerified: true, Counter: 10, Transports: []string{"usb"}}
)

func mustIssuer() *webauthntest.Issuer {
	i, err := webauthntest.NewIssuer()
	if err != nil {
		panic(err)
	}
	return i
}

// ceremony runs a factor's ceremonies for alice with one authenticator.
// Begin and Finish go to two separate factor instances, as they may go to
// two plugin processes.
type ceremony struct {
	t             *testing.T
	begin, finish *webauthnfactor.Factor
	a             *webauthntest.Authenticator
	user          factors.User
	cred          factors.Credential
	meta          map[string]string
	label         string
}

// newFactor configures a factor. A security key factor trusts vendor's
// root unless the settings name attestation_roots (even empty: only the
// shipped roots).
func newFactor(t *testing.T, kind webauthnfactor.Kind, settings map[string]string) *webauthnfactor.Factor {
	t.Helper()
	if _, set := settings["attestation_roots"]; kind == webauthnfactor.HardwareKey && !set {
		settings = maps.Clone(settings)
		if settings == nil {
			settings = map[string]string{}
		}
		settings["attestation_roots"] = vendor.PEM()
	}
	f := webauthnfactor.New(kind)
	if _, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: settings}); err != nil {
		t.Fatal(err)
	}
	return f
}

func newCeremony(t *testing.T, kind webauthnfactor.Kind, settings map[string]string, o webauthntest.Options) *ceremony {
	return &ceremony{t: t, begin: newFactor(t, kind, settings), finish: newFactor(t, kind, settings), a: webauthntest.NewAuthenticator(o), user: alice}
}

// enrol registers a new credential at origin and keeps it.
func (c *ceremony) enrol(origin string, existing ...factors.Credential) error {
	c.t.Helper()
	b, err := c.begin.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: c.user, Existing: existing})
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.a.Register(origin, b.ClientData)
	if err != nil {
		return err
	}
	fin, err := c.finish.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: c.user, PendingState: b.PendingState, Response: resp})
	if err != nil {
		return err
	}
	c.cred = factors.Credential{ID: "enrollment-" + c.user.Name, ExternalID: fin.ExternalID, State: fin.State}
	c.meta, c.label = fin.Metadata, fin.Label
	return nil
}

func (c *ceremony) mustEnrol() *ceremony {
	c.t.Helper()
	if err := c.enrol(origin); err != nil {
		c.t.Fatalf("enrolment: %v", err)
	}
	return c
}

// login runs one assertion ceremony at origin (discoverable when asked)
// and, when it verifies, keeps the credential's new state. It returns the
// finishing request so a test can send it again.
func (c *ceremony) login(origin string, discoverable bool) (*factors.FinishVerificationRequest, *factors.FinishVerificationResponse, error) {
	c.t.Helper()
	breq := &factors.BeginVerificationRequest{User: c.user, Credentials: []factors.Credential{c.cred}}
	if discoverable {
		breq = &factors.BeginVerificationRequest{}
	}
	b, err := c.begin.BeginVerification(ctx, breq)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.a.Login(origin, b.ClientData)
	if err != nil {
		c.t.Fatal(err)
	}
	req := &factors.FinishVerificationRequest{User: c.user, Credential: c.cred, SessionState: b.SessionState, Response: resp}
	out, err := c.finish.FinishVerification(ctx, req)
	if err == nil {
		c.cred.State = out.State
	}
	return req, out, err
}

func (c *ceremony) mustLogin() {
	c.t.Helper()
	if _, _, err := c.login(origin, false); err != nil {
		c.t.Fatalf("login: %v", err)
	}
}

// signCount reads the counter from a credential state (go-webauthn's
// Credential JSON).
func signCount(t *testing.T, state []byte) uint32 {
	t.Helper()
	var s struct{ Authenticator struct{ SignCount uint32 } }
	if err := json.Unmarshal(state, &s); err != nil {
		t.Fatal(err)
	}
	return s.Authenticator.SignCount
}

// checkErr fails unless err is want (nil: no error) and its message
// contains detail.
func checkErr(t *testing.T, err, want error, detail string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("got %v, want success", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("got %v, want %v", err, want)
	case err != nil && !strings.Contains(err.Error(), detail):
		t.Fatalf("got %q, want a detail containing %q", err, detail)
	}
}
