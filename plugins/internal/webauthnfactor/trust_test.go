package webauthnfactor_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

// TestSecurityKeyAttestationDefault: with default settings (no FIDO
// metadata) a security key is accepted only with an attestation
// certificate that chains to a trusted root, and never as a synced
// credential; attestation: any brings back the permissive policy.
func TestSecurityKeyAttestationDefault(t *testing.T) {
	forger := newIssuer(t)
	device := func(change func(o *webauthntest.Options)) webauthntest.Options {
		o := securityKey
		change(&o)
		return o
	}
	selfAttested := device(func(o *webauthntest.Options) { o.Attestation = webauthntest.AttestationSelf })
	none := device(func(o *webauthntest.Options) { o.Attestation = webauthntest.AttestationNone })
	synced := device(func(o *webauthntest.Options) { o.BackupEligible, o.BackupState = true, true })
	syncable := device(func(o *webauthntest.Options) { o.BackupEligible = true })
	forged := device(func(o *webauthntest.Options) { o.Issuer = forger })
	inter, err := vendor.NewIntermediate()
	if err != nil {
		t.Fatal(err)
	}
	viaIntermediate := device(func(o *webauthntest.Options) { o.Issuer = inter })
	forgedInter, err := forger.NewIntermediate()
	if err != nil {
		t.Fatal(err)
	}
	forgedViaIntermediate := device(func(o *webauthntest.Options) { o.Issuer = forgedInter })
	// A passkey provider that self-attests and syncs: what "any" was about.
	softPasskey := webauthntest.Options{AAGUID: yubi, UserNotVerified: true, BackupEligible: true, BackupState: true}

	rootsFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(rootsFile, []byte(vendor.PEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	shippedOnly := map[string]string{"attestation_roots": ""}
	permissive := map[string]string{"attestation": "any", "attestation_roots": ""}

	tests := map[string]struct {
		settings map[string]string // nil: default policy trusting vendor's root
		device   webauthntest.Options
		want     error
		detail   string
	}{
		"chain to a configured root":          {device: securityKey},
		"chain to a root from a file":         {settings: map[string]string{"attestation_roots": rootsFile}, device: securityKey},
		"chain through an intermediate":       {device: viaIntermediate},
		"untrusted root via intermediate":     {device: forgedViaIntermediate, want: factors.ErrAttestationRefused, detail: "not from a trusted vendor"},
		"trusted policy named":                {settings: map[string]string{"attestation": "trusted", "attestation_roots": vendor.PEM()}, device: securityKey},
		"self attestation":                    {device: selfAttested, want: factors.ErrAttestationRefused, detail: "attested itself"},
		"no attestation":                      {device: none, want: factors.ErrAttestationRefused, detail: "gave no attestation"},
		"backup eligible and backed up":       {device: synced, want: factors.ErrAttestationRefused, detail: "synced passkey"},
		"backup eligible":                     {device: syncable, want: factors.ErrAttestationRefused, detail: "synced passkey"},
		"chain to an untrusted root":          {device: forged, want: factors.ErrAttestationRefused, detail: "not from a trusted vendor"},
		"only the shipped roots":              {settings: shippedOnly, device: securityKey, want: factors.ErrAttestationRefused, detail: "not from a trusted vendor"},
		"software passkey":                    {device: softPasskey, want: factors.ErrAttestationRefused, detail: "synced passkey"},
		"any: self attestation":               {settings: permissive, device: selfAttested},
		"any: synced software passkey":        {settings: permissive, device: softPasskey},
		"any: untrusted root":                 {settings: permissive, device: forged},
		"any: still no attestation":           {settings: permissive, device: none, want: factors.ErrAttestationRefused, detail: "gave no attestation"},
		"any: still only allowed models":      {settings: map[string]string{"attestation": "any", "allowed_aaguids": "11111111-2222-4333-8444-555555555555"}, device: selfAttested, want: factors.ErrAttestationRefused, detail: "not on the allowed list"},
		"trusted: allowed model, self-attest": {settings: map[string]string{"allowed_aaguids": yubi.String()}, device: selfAttested, want: factors.ErrAttestationRefused, detail: "attested itself"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCeremony(t, webauthnfactor.HardwareKey, tc.settings, tc.device)
			err := c.enrol(origin)
			checkErr(t, err, tc.want, tc.detail)
			if err == nil {
				c.mustLogin() // an accepted key signs in
			}
		})
	}
}

// The passkey factor has no attestation policy: synced, unattested
// passkeys are what it is for.
func TestPasskeyIgnoresAttestation(t *testing.T) {
	c := newCeremony(t, webauthnfactor.Passkey, nil, passkeyDevice).mustEnrol()
	c.mustLogin()
}

// The shipped vendor roots are Yubico's published FIDO attestation roots,
// pinned by fingerprint so a swapped file fails here.
func TestShippedVendorRoots(t *testing.T) {
	want := []string{
		"0fa1386f80eb8713263ae5c1d84deb455bdf08aea50ab05503cefee82b092d42", // Yubico U2F Root CA Serial 457200631
		"35f1a54b353bfb711e6d42adbeb76c0e9dead095018e6a94783ba2192fd6faad", // Yubico FIDO Root CA Serial 450203556
		"62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8", // Yubico Attestation Root 1
	}
	certs, err := webauthnfactor.ShippedRoots()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range certs {
		sum := sha256.Sum256(c.Raw)
		got = append(got, hex.EncodeToString(sum[:]))
		if err := c.CheckSignatureFrom(c); err != nil || !c.IsCA {
			t.Errorf("%s is not a self-signed CA: %v", c.Subject, err)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("shipped roots %v, want %v", got, want)
	}
}
