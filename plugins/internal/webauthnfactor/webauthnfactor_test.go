package webauthnfactor_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

const origin = "http://localhost:8080"

var (
	ctx   = context.Background()
	alice = factors.User{ID: "0190d6f4-3b0a-7cc1-9a57-00000000a11c", Name: "alice", DisplayName: "Alice"}
	yubi  = uuid.MustParse("cb69481e-8ff7-4039-93ec-0a2729a154a8")
)

func newFactor(t *testing.T, kind webauthnfactor.Kind, settings map[string]string) *webauthnfactor.Factor {
	f := webauthnfactor.New(kind)
	if _, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: settings}); err != nil {
		t.Fatal(err)
	}
	return f
}

// enrol registers a credential made by a and returns it.
func enrol(t *testing.T, f *webauthnfactor.Factor, a *webauthntest.Authenticator, existing ...factors.Credential) (factors.Credential, map[string]string, error) {
	t.Helper()
	b, err := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice, Existing: existing})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Register(b.ClientData)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: alice, PendingState: b.PendingState, Response: resp})
	if err != nil {
		return factors.Credential{}, nil, err
	}
	return factors.Credential{ID: "e1", ExternalID: fin.ExternalID, State: fin.State}, fin.Metadata, nil
}

// login runs an assertion ceremony; discoverable when user is zero.
func login(t *testing.T, f *webauthnfactor.Factor, a *webauthntest.Authenticator, cred factors.Credential, discoverable bool) (json.RawMessage, []byte, *factors.FinishVerificationResponse, error) {
	t.Helper()
	req := &factors.BeginVerificationRequest{User: alice, Credentials: []factors.Credential{cred}}
	if discoverable {
		req = &factors.BeginVerificationRequest{}
	}
	b, err := f.BeginVerification(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Login(b.ClientData)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: alice, Credential: cred, SessionState: b.SessionState, Response: resp})
	return resp, b.SessionState, out, err
}

func TestPasskeyCeremonies(t *testing.T) {
	f := newFactor(t, webauthnfactor.Passkey, map[string]string{"rp_id": "localhost", "origins": origin})
	a := webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost"})
	cred, meta, err := enrol(t, f, a)
	if err != nil {
		t.Fatal(err)
	}
	if meta["backup_eligible"] != "true" || meta["aaguid"] == "" {
		t.Fatalf("metadata %v", meta)
	}
	// Registration options require a resident key and UV, and exclude
	// existing credentials.
	b, _ := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice, Existing: []factors.Credential{cred}})
	var opts struct {
		PublicKey struct {
			AuthenticatorSelection struct{ ResidentKey, UserVerification string }
			ExcludeCredentials     []struct{ ID string }
		} `json:"publicKey"`
	}
	json.Unmarshal(b.ClientData, &opts)
	if opts.PublicKey.AuthenticatorSelection.ResidentKey != "required" || opts.PublicKey.AuthenticatorSelection.UserVerification != "required" || len(opts.PublicKey.ExcludeCredentials) != 1 {
		t.Fatalf("creation options: %s", b.ClientData)
	}

	resp, session, out, err := login(t, f, a, cred, false)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	// The same assertion again (replayed) is refused.
	replay := &factors.FinishVerificationRequest{User: alice, Credential: factors.Credential{ID: "e1", ExternalID: cred.ExternalID, State: out.State}, SessionState: session, Response: resp}
	if _, err := f.FinishVerification(ctx, replay); err == nil {
		t.Fatal("a replayed assertion verified")
	}
	cred.State = out.State
	// Discoverable sign-in: identify, then verify.
	resp, _, out, err = login(t, f, a, cred, true)
	if err != nil {
		t.Fatalf("discoverable login: %v", err)
	}
	id, err := f.IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: resp})
	if err != nil || string(id.ExternalID) != string(cred.ExternalID) || id.UserID != alice.ID {
		t.Fatalf("identify: %+v %v", id, err)
	}
	cred.State = out.State
	// A cloned authenticator: its counter goes backwards.
	a.Cred.Counter = 0
	if _, _, _, err := login(t, f, a, cred, false); !errors.Is(err, factors.ErrCloneWarning) {
		t.Fatalf("counter regression: %v, want ErrCloneWarning", err)
	}
	// No user verification.
	a.Cred.Counter = 100
	a.Auth.Options.UserNotVerified = true
	if _, _, _, err := login(t, f, a, cred, false); !errors.Is(err, factors.ErrUserVerificationRequired) {
		t.Fatalf("login without UV: %v", err)
	}
	noUV := webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost", NoUserVerification: true})
	if _, _, err := enrol(t, f, noUV); !errors.Is(err, factors.ErrUserVerificationRequired) {
		t.Fatalf("registration without UV: %v", err)
	}
}

func TestWrongOriginAndRPID(t *testing.T) {
	f := newFactor(t, webauthnfactor.Passkey, map[string]string{"rp_id": "localhost", "origins": origin})
	for name, a := range map[string]*webauthntest.Authenticator{
		"origin": webauthntest.New(webauthntest.Options{Origin: "http://evil.test:8080", RPID: "localhost"}),
		"rp id":  webauthntest.New(webauthntest.Options{Origin: origin, RPID: "evil.test"}),
	} {
		if _, _, err := enrol(t, f, a); !errors.Is(err, factors.ErrInvalidResponse) {
			t.Errorf("registration with wrong %s: %v", name, err)
		}
	}
	good := webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost"})
	cred, _, err := enrol(t, f, good)
	if err != nil {
		t.Fatal(err)
	}
	good.RP.Origin = "http://evil.test:8080"
	if _, _, _, err := login(t, f, good, cred, false); !errors.Is(err, factors.ErrInvalidResponse) {
		t.Errorf("assertion from a wrong origin: %v", err)
	}
	good.RP.Origin, good.RP.ID = origin, "evil.test"
	if _, _, _, err := login(t, f, good, cred, false); !errors.Is(err, factors.ErrInvalidResponse) {
		t.Errorf("assertion for a wrong RP id: %v", err)
	}
	if _, err := f.FinishVerification(ctx, &factors.FinishVerificationRequest{User: alice, Credential: cred, SessionState: []byte(`{}`), Response: json.RawMessage(`{"id": 1}`)}); !errors.Is(err, factors.ErrBadRequest) {
		t.Errorf("malformed assertion: %v", err)
	}
}

func TestHardwareKeyAttestationPolicy(t *testing.T) {
	f := newFactor(t, webauthnfactor.HardwareKey, map[string]string{"origins": origin, "allowed_aaguids": yubi.String()})
	listed := webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost", AAGUID: yubi})
	cred, meta, err := enrol(t, f, listed)
	if err != nil {
		t.Fatalf("listed key refused: %v", err)
	}
	if meta["aaguid"] != yubi.String() || meta["attestation_format"] != "packed" || meta["authenticator"] != "YubiKey 5 Series" {
		t.Fatalf("metadata %v", meta)
	}
	if _, _, _, err := login(t, f, listed, cred, false); err != nil {
		t.Fatalf("security key login: %v", err)
	}
	unlisted := webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost"})
	_, _, err = enrol(t, f, unlisted)
	if !errors.Is(err, factors.ErrAttestationRefused) || !strings.Contains(err.Error(), "not on the allowed list") {
		t.Fatalf("unlisted key: %v", err)
	}
	if _, err := f.BeginVerification(ctx, &factors.BeginVerificationRequest{}); !errors.Is(err, factors.ErrUnsupported) {
		t.Fatalf("passwordless with a security key: %v", err)
	}
	if _, err := webauthnfactor.New(webauthnfactor.HardwareKey).Configure(ctx, &factors.ConfigureRequest{Settings: map[string]string{"allowed_aaguids": "nope"}}); !errors.Is(err, factors.ErrBadRequest) {
		t.Fatalf("bad aaguid setting: %v", err)
	}
}
