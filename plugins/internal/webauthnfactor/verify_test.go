package webauthnfactor_test

import (
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

func TestFinishVerification(t *testing.T) {
	counterless := passkeyDevice
	counterless.FixedCounter = true
	// loginAt verifies once at origin.
	loginAt := func(origin string) func(*ceremony) error {
		return func(c *ceremony) error { _, _, err := c.login(origin, false); return err }
	}
	// replay sends an accepted assertion again, with its session, against
	// the credential's updated state.
	replay := func(c *ceremony) error {
		req, out, err := c.login(origin, false)
		if err != nil {
			c.t.Fatalf("first use: %v", err)
		}
		req.Credential.State = out.State
		_, err = c.finish.FinishVerification(ctx, req)
		return err
	}
	tests := map[string]struct {
		kind   webauthnfactor.Kind
		device webauthntest.Options
		run    func(*ceremony) error
		want   error
		detail string
	}{
		"passkey":                     {kind: webauthnfactor.Passkey, device: passkeyDevice, run: loginAt(origin)},
		"security key, no PIN":        {kind: webauthnfactor.HardwareKey, device: securityKey, run: loginAt(origin)},
		"authenticator with no count": {kind: webauthnfactor.Passkey, device: counterless, run: func(c *ceremony) error { c.mustLogin(); return loginAt(origin)(c) }},
		"from another origin":         {kind: webauthnfactor.Passkey, device: passkeyDevice, run: loginAt(evilOrigin), want: factors.ErrInvalidResponse, detail: "origin"},
		"for another RP id": {kind: webauthnfactor.HardwareKey, device: securityKey, want: factors.ErrInvalidResponse, detail: "RP Hash",
			run: func(c *ceremony) error { c.a.Options.RPID = "evil.test"; return loginAt(origin)(c) }},
		"passkey without user verification": {kind: webauthnfactor.Passkey, device: passkeyDevice, want: factors.ErrUserVerificationRequired,
			run: func(c *ceremony) error { c.a.Options.UserNotVerified = true; return loginAt(origin)(c) }},
		"replayed assertion":             {kind: webauthnfactor.HardwareKey, device: securityKey, run: replay, want: factors.ErrReplay},
		"replayed assertion, no counter": {kind: webauthnfactor.Passkey, device: counterless, run: replay, want: factors.ErrReplay},
		"signature made for another challenge": {kind: webauthnfactor.Passkey, device: passkeyDevice, want: factors.ErrInvalidResponse, detail: "challenge",
			run: func(c *ceremony) error {
				other, _ := c.begin.BeginVerification(ctx, &factors.BeginVerificationRequest{User: alice, Credentials: []factors.Credential{c.cred}})
				req, _, _ := c.login(origin, false) // verifies, and moves the state on
				req.Credential.State, req.SessionState = c.cred.State, other.SessionState
				_, err := c.finish.FinishVerification(ctx, req)
				return err
			}},
		"counter went back (cloned key)": {kind: webauthnfactor.HardwareKey, device: securityKey, want: factors.ErrCloneWarning, detail: "from 11 to 6",
			run: func(c *ceremony) error { c.mustLogin(); c.a.Counter = 5; return loginAt(origin)(c) }},
		"counter did not move": {kind: webauthnfactor.HardwareKey, device: securityKey, want: factors.ErrCloneWarning,
			run: func(c *ceremony) error { c.mustLogin(); c.a.Options.FixedCounter = true; return loginAt(origin)(c) }},
		// WebAuthn §7.2 step 22: a counter once used may not drop to 0.
		"counter dropped to zero": {kind: webauthnfactor.HardwareKey, device: securityKey, want: factors.ErrCloneWarning,
			run: func(c *ceremony) error { c.a.Counter, c.a.Options.FixedCounter = 0, true; return loginAt(origin)(c) }},
		"one of several credentials": {kind: webauthnfactor.Passkey, device: passkeyDevice,
			run: func(c *ceremony) error { return answerWithSecond(c, 1) }},
		"assertion by another credential": {kind: webauthnfactor.Passkey, device: passkeyDevice, want: factors.ErrInvalidResponse, detail: "another credential",
			run: func(c *ceremony) error { return answerWithSecond(c, 0) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCeremony(t, tc.kind, nil, tc.device).mustEnrol()
			err := tc.run(c)
			checkErr(t, err, tc.want, tc.detail)
		})
	}
}

// answerWithSecond enrols a second authenticator, begins a verification for
// both credentials, answers with the second and finishes with the
// credential the host names (0: first, 1: second).
func answerWithSecond(c *ceremony, named int) error {
	first := c.cred
	c.a = webauthntest.NewAuthenticator(passkeyDevice)
	c.mustEnrol()
	creds := []factors.Credential{first, c.cred}
	b, err := c.begin.BeginVerification(ctx, &factors.BeginVerificationRequest{User: alice, Credentials: creds})
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.a.Login(origin, b.ClientData)
	if err != nil {
		c.t.Fatal(err)
	}
	_, err = c.finish.FinishVerification(ctx, &factors.FinishVerificationRequest{User: alice, Credential: creds[named], SessionState: b.SessionState, Response: resp})
	return err
}

func TestFinishVerificationUpdatesState(t *testing.T) {
	c := newCeremony(t, webauthnfactor.HardwareKey, nil, securityKey).mustEnrol()
	_, out, err := c.login(origin, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := signCount(t, out.State); got != 11 {
		t.Errorf("sign count %d, want 11", got)
	}
	var cred webauthn.Credential
	if err := json.Unmarshal(out.State, &cred); err != nil || string(cred.ID) != string(c.cred.ExternalID) {
		t.Errorf("state is not the credential: %v", err)
	}
	if out.Metadata["backup_state"] != "false" || out.Metadata["authenticator"] != "YubiKey 5 Series" {
		t.Errorf("metadata %v", out.Metadata)
	}
}

func TestFinishVerificationBadRequests(t *testing.T) {
	c := newCeremony(t, webauthnfactor.Passkey, nil, passkeyDevice).mustEnrol()
	b, err := c.begin.BeginVerification(ctx, &factors.BeginVerificationRequest{User: alice, Credentials: []factors.Credential{c.cred}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.a.Login(origin, b.ClientData)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]factors.FinishVerificationRequest{
		"not an assertion":        {User: alice, Credential: c.cred, SessionState: b.SessionState, Response: json.RawMessage(`{"id": 1}`)},
		"no session":              {User: alice, Credential: c.cred, Response: good},
		"unreadable session":      {User: alice, Credential: c.cred, SessionState: []byte(`[]`), Response: good},
		"unreadable credential":   {User: alice, Credential: factors.Credential{State: []byte(`{}`)}, SessionState: b.SessionState, Response: good},
		"another user's ceremony": {User: bob, Credential: c.cred, SessionState: b.SessionState, Response: good},
		"user with no name":       {User: factors.User{ID: alice.ID}, Credential: c.cred, SessionState: b.SessionState, Response: good},
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := c.finish.FinishVerification(ctx, &req)
			checkErr(t, err, factors.ErrBadRequest, "")
		})
	}
}

// requestOptions is the part of CredentialRequestOptions the factor decides.
type requestOptions struct {
	PublicKey struct {
		RPID             string `json:"rpId"`
		UserVerification string `json:"userVerification"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func TestDiscoverableSignIn(t *testing.T) {
	c := newCeremony(t, webauthnfactor.Passkey, nil, passkeyDevice).mustEnrol()
	c.mustLogin()
	tests := map[string]struct {
		user   factors.User
		want   error
		detail string
	}{
		"the credential's user": {user: alice},
		// The host looked up the wrong user for the credential: the user
		// handle the authenticator signed does not name them.
		"another user": {user: bob, want: factors.ErrInvalidResponse, detail: "user handle"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := c.begin.BeginVerification(ctx, &factors.BeginVerificationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var opts requestOptions
			if err := json.Unmarshal(b.ClientData, &opts); err != nil || opts.PublicKey.RPID != "localhost" ||
				opts.PublicKey.UserVerification != "required" || len(opts.PublicKey.AllowCredentials) != 0 {
				t.Fatalf("discoverable request options: %s (%v)", b.ClientData, err)
			}
			resp, err := c.a.Login(origin, b.ClientData)
			if err != nil {
				t.Fatal(err)
			}
			id, err := c.begin.IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: resp})
			if err != nil || string(id.ExternalID) != string(c.cred.ExternalID) || id.UserID != alice.ID {
				t.Fatalf("identify: %+v, %v", id, err)
			}
			out, err := c.finish.FinishVerification(ctx, &factors.FinishVerificationRequest{User: tc.user, Credential: c.cred, SessionState: b.SessionState, Response: resp})
			checkErr(t, err, tc.want, tc.detail)
			if err == nil {
				c.cred.State = out.State
			}
		})
	}
}

func TestBeginVerification(t *testing.T) {
	tests := map[string]struct {
		kind   webauthnfactor.Kind
		device webauthntest.Options
		req    func(c *ceremony) *factors.BeginVerificationRequest
		uv     string
		allow  int
		want   error
	}{
		"passkey":              {kind: webauthnfactor.Passkey, device: passkeyDevice, uv: "required", allow: 1},
		"security key":         {kind: webauthnfactor.HardwareKey, device: securityKey, uv: "discouraged", allow: 1},
		"discoverable passkey": {kind: webauthnfactor.Passkey, device: passkeyDevice, uv: "required", req: func(*ceremony) *factors.BeginVerificationRequest { return &factors.BeginVerificationRequest{} }},
		// A security key is a second factor: the user is known first.
		"discoverable security key": {kind: webauthnfactor.HardwareKey, device: securityKey, want: factors.ErrUnsupported,
			req: func(*ceremony) *factors.BeginVerificationRequest { return &factors.BeginVerificationRequest{} }},
		"unreadable credential": {kind: webauthnfactor.Passkey, device: passkeyDevice, want: factors.ErrBadRequest,
			req: func(*ceremony) *factors.BeginVerificationRequest {
				return &factors.BeginVerificationRequest{User: alice, Credentials: []factors.Credential{{State: []byte("x")}}}
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCeremony(t, tc.kind, nil, tc.device).mustEnrol()
			req := &factors.BeginVerificationRequest{User: alice, Credentials: []factors.Credential{c.cred}}
			if tc.req != nil {
				req = tc.req(c)
			}
			b, err := c.begin.BeginVerification(ctx, req)
			checkErr(t, err, tc.want, "")
			if err != nil {
				return
			}
			var opts requestOptions
			if err := json.Unmarshal(b.ClientData, &opts); err != nil {
				t.Fatal(err)
			}
			if opts.PublicKey.UserVerification != tc.uv || len(opts.PublicKey.AllowCredentials) != tc.allow {
				t.Errorf("request options %s", b.ClientData)
			}
			var session webauthn.SessionData
			if err := json.Unmarshal(b.SessionState, &session); err != nil || session.Challenge == "" {
				t.Errorf("session state is not SessionData: %s", b.SessionState)
			}
		})
	}
}

func TestIdentifyCredentialMalformed(t *testing.T) {
	for name, body := range map[string]string{"empty": ``, "not a credential": `{"id": "x"}`, "not JSON": `{`} {
		t.Run(name, func(t *testing.T) {
			_, err := webauthnfactor.New(webauthnfactor.Passkey).IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: json.RawMessage(body)})
			checkErr(t, err, factors.ErrBadRequest, "")
		})
	}
}
