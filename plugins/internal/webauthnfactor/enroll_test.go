package webauthnfactor_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

func TestDescribe(t *testing.T) {
	type description struct {
		ID, DisplayName string
		ProtocolVersion int
		Capabilities    []factors.Capability
		Settings        []string
	}
	tests := map[webauthnfactor.Kind]description{
		webauthnfactor.Passkey: {"passkey", "Passkey", factors.ProtocolVersion,
			[]factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityPasswordless},
			[]string{"origins", "rp_id", "rp_name"}},
		webauthnfactor.HardwareKey: {"hardwarekey", "Security key", factors.ProtocolVersion,
			[]factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityHardwareBound},
			[]string{"allowed_aaguids", "attestation", "attestation_roots", "mds_file", "mds_root_cert", "origins", "rp_id", "rp_name"}},
	}
	for kind, want := range tests {
		t.Run(string(kind), func(t *testing.T) {
			d, err := webauthnfactor.New(kind).Describe(ctx, &factors.DescribeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range d.Schema() {
				names = append(names, s.Name)
			}
			slices.Sort(names)
			got := description{d.ID, d.DisplayName, d.ProtocolVersion, d.Capabilities, names}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("describe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	tests := map[string]struct {
		kind     webauthnfactor.Kind
		settings map[string]string
		want     error
	}{
		"defaults":                   {webauthnfactor.Passkey, nil, nil},
		"empty values are defaults":  {webauthnfactor.HardwareKey, map[string]string{"rp_id": "", "allowed_aaguids": " ", "mds_file": ""}, nil},
		"all settings":               {webauthnfactor.HardwareKey, map[string]string{"rp_id": "example.com", "rp_name": "Example", "origins": "https://example.com, https://login.example.com", "allowed_aaguids": yubi.String()}, nil},
		"unknown setting":            {webauthnfactor.Passkey, map[string]string{"issuer": "x"}, factors.ErrBadRequest},
		"security key setting":       {webauthnfactor.Passkey, map[string]string{"allowed_aaguids": yubi.String()}, factors.ErrBadRequest},
		"AAGUID that is not a UUID":  {webauthnfactor.HardwareKey, map[string]string{"allowed_aaguids": "yubikey"}, factors.ErrBadRequest},
		"RP id that is not a domain": {webauthnfactor.Passkey, map[string]string{"rp_id": "https://example.com/"}, factors.ErrBadRequest},
		"missing MDS blob":           {webauthnfactor.HardwareKey, map[string]string{"mds_file": "/nonexistent/blob.jwt"}, factors.ErrBadRequest},
		"MDS root without a blob":    {webauthnfactor.HardwareKey, map[string]string{"mds_root_cert": "/nonexistent/root.pem"}, factors.ErrBadRequest},
		"attestation policies":       {webauthnfactor.HardwareKey, map[string]string{"attestation": "any", "attestation_roots": vendor.PEM()}, nil},
		"unknown attestation policy": {webauthnfactor.HardwareKey, map[string]string{"attestation": "self"}, factors.ErrBadRequest},
		"passkey attestation policy": {webauthnfactor.Passkey, map[string]string{"attestation": "any"}, factors.ErrBadRequest},
		"missing roots file":         {webauthnfactor.HardwareKey, map[string]string{"attestation_roots": "/nonexistent/roots.pem"}, factors.ErrBadRequest},
		"roots that are not PEM":     {webauthnfactor.HardwareKey, map[string]string{"attestation_roots": "-----BEGIN CERTIFICATE-----\nnope"}, factors.ErrBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := webauthnfactor.New(tc.kind).Configure(ctx, &factors.ConfigureRequest{Settings: tc.settings})
			checkErr(t, err, tc.want, "")
		})
	}
}

// creationOptions is the part of CredentialCreationOptions the factor
// decides.
type creationOptions struct {
	PublicKey struct {
		RP   struct{ ID, Name string }
		User struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
		}
		AuthenticatorSelection struct {
			AuthenticatorAttachment string `json:"authenticatorAttachment"`
			ResidentKey             string `json:"residentKey"`
			RequireResidentKey      bool   `json:"requireResidentKey"`
			UserVerification        string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Attestation        string `json:"attestation"`
		ExcludeCredentials []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func TestBeginEnrollmentOptions(t *testing.T) {
	tests := map[webauthnfactor.Kind]struct {
		device                                   webauthntest.Options
		attachment, residentKey, uv, attestation string
		requireResidentKey                       bool
	}{
		webauthnfactor.Passkey:     {passkeyDevice, "", "required", "required", "none", true},
		webauthnfactor.HardwareKey: {securityKey, "cross-platform", "discouraged", "discouraged", "direct", false},
	}
	for kind, tc := range tests {
		t.Run(string(kind), func(t *testing.T) {
			c := newCeremony(t, kind, map[string]string{"rp_id": "localhost", "rp_name": "Acme"}, tc.device).mustEnrol()
			first := c.cred
			b, err := c.begin.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice, Existing: []factors.Credential{first}})
			if err != nil {
				t.Fatal(err)
			}
			var got creationOptions
			if err := json.Unmarshal(b.ClientData, &got); err != nil {
				t.Fatalf("client data %s: %v", b.ClientData, err)
			}
			want := got
			pk := &want.PublicKey
			pk.RP.ID, pk.RP.Name = "localhost", "Acme"
			pk.User.ID, pk.User.Name, pk.User.DisplayName = base64.RawURLEncoding.EncodeToString([]byte(alice.ID)), alice.Name, alice.DisplayName
			pk.AuthenticatorSelection.AuthenticatorAttachment = tc.attachment
			pk.AuthenticatorSelection.ResidentKey = tc.residentKey
			pk.AuthenticatorSelection.RequireResidentKey = tc.requireResidentKey
			pk.AuthenticatorSelection.UserVerification = tc.uv
			pk.Attestation = tc.attestation
			pk.ExcludeCredentials = append(pk.ExcludeCredentials[:0:0], struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			}{"public-key", base64.RawURLEncoding.EncodeToString(first.ExternalID)})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("creation options (-want +got):\n%s", diff)
			}
			var session webauthn.SessionData
			if err := json.Unmarshal(b.PendingState, &session); err != nil || string(session.UserID) != alice.ID {
				t.Errorf("pending state is not the user's SessionData: %s (%v)", b.PendingState, err)
			}
			// The authenticator that holds the excluded credential refuses,
			// as a browser does (InvalidStateError).
			if _, err := c.a.Register(origin, b.ClientData); !errors.Is(err, webauthntest.ErrExcluded) {
				t.Errorf("registering the same authenticator twice: %v", err)
			}
		})
	}
}

func TestFinishEnrollment(t *testing.T) {
	hk := map[string]string{"allowed_aaguids": yubi.String()}
	selfAttested, unlisted, noAttestation := securityKey, securityKey, securityKey
	selfAttested.Attestation = webauthntest.AttestationSelf
	unlisted.AAGUID = uuid.MustParse("11111111-2222-4333-8444-555555555555")
	noAttestation.Attestation = webauthntest.AttestationNone
	noUV := passkeyDevice
	noUV.UserNotVerified = true
	tests := map[string]struct {
		kind     webauthnfactor.Kind
		settings map[string]string
		device   webauthntest.Options
		origin   string
		rpID     string
		want     error
		detail   string
		label    string
		meta     map[string]string
	}{
		"passkey": {kind: webauthnfactor.Passkey, device: passkeyDevice, label: "Passkey", meta: map[string]string{
			"backup_eligible": "true", "backup_state": "true", "transports": "internal,hybrid", "attestation_format": "none"}},
		"passkey from a known provider": {kind: webauthnfactor.Passkey, device: webauthntest.Options{AAGUID: uuid.MustParse("fbfc3007-154e-4ecc-8c0b-6e020557d7bd")},
			label: "iCloud Keychain", meta: map[string]string{"backup_eligible": "false", "backup_state": "false", "attestation_format": "packed",
				"authenticator": "iCloud Keychain"}},
		"passkey without user verification": {kind: webauthnfactor.Passkey, device: noUV, want: factors.ErrUserVerificationRequired},
		"passkey from another origin":       {kind: webauthnfactor.Passkey, device: passkeyDevice, origin: evilOrigin, want: factors.ErrInvalidResponse, detail: "origin"},
		"passkey for another RP id":         {kind: webauthnfactor.Passkey, device: passkeyDevice, rpID: "evil.test", want: factors.ErrInvalidResponse, detail: "RP Hash"},
		"security key": {kind: webauthnfactor.HardwareKey, settings: hk, device: securityKey, label: "YubiKey 5 Series", meta: map[string]string{
			"backup_eligible": "false", "backup_state": "false", "transports": "usb", "attestation_format": "packed",
			"authenticator": "YubiKey 5 Series"}},
		"self-attested security key, no metadata": {kind: webauthnfactor.HardwareKey, settings: hk, device: selfAttested, want: factors.ErrAttestationRefused, detail: "attested itself"},
		"any model when none are listed":          {kind: webauthnfactor.HardwareKey, device: unlisted, label: "Security key"},
		"unlisted security key":                   {kind: webauthnfactor.HardwareKey, settings: hk, device: unlisted, want: factors.ErrAttestationRefused, detail: "not on the allowed list"},
		"security key without attestation":        {kind: webauthnfactor.HardwareKey, settings: hk, device: noAttestation, want: factors.ErrAttestationRefused, detail: "no attestation"},
		"security key from another origin":        {kind: webauthnfactor.HardwareKey, settings: hk, device: securityKey, origin: evilOrigin, want: factors.ErrInvalidResponse},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCeremony(t, tc.kind, tc.settings, tc.device)
			c.a.Options.RPID = tc.rpID
			if tc.origin == "" {
				tc.origin = origin
			}
			err := c.enrol(tc.origin)
			checkErr(t, err, tc.want, tc.detail)
			if err != nil {
				return
			}
			if c.label != tc.label {
				t.Errorf("label %q, want %q", c.label, tc.label)
			}
			if tc.meta != nil {
				tc.meta["aaguid"] = c.a.AAGUID().String() // every device here names its model
				if diff := cmp.Diff(tc.meta, c.meta); diff != "" {
					t.Errorf("metadata (-want +got):\n%s", diff)
				}
			}
			// The state is go-webauthn's Credential JSON.
			var cred webauthn.Credential
			if err := json.Unmarshal(c.cred.State, &cred); err != nil || string(cred.ID) != string(c.cred.ExternalID) || len(cred.PublicKey) == 0 {
				t.Errorf("state is not the credential: %s (%v)", c.cred.State, err)
			}
		})
	}
}

func TestFinishEnrollmentBadRequests(t *testing.T) {
	c := newCeremony(t, webauthnfactor.Passkey, nil, passkeyDevice)
	b, err := c.begin.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice})
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.a.Register(origin, b.ClientData)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]factors.FinishEnrollmentRequest{
		"not a credential":        {User: alice, PendingState: b.PendingState, Response: json.RawMessage(`{"id": 1}`)},
		"not JSON":                {User: alice, PendingState: b.PendingState, Response: json.RawMessage(`nope`)},
		"no pending state":        {User: alice, Response: good},
		"unreadable state":        {User: alice, PendingState: []byte("{"), Response: good},
		"another user's ceremony": {User: bob, PendingState: b.PendingState, Response: good},
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := c.finish.FinishEnrollment(ctx, &req)
			checkErr(t, err, factors.ErrBadRequest, "")
		})
	}
}
