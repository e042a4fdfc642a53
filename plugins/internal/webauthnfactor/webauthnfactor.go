// Package webauthnfactor implements Twofold's two WebAuthn factors on
// github.com/go-webauthn/webauthn: passkeys (discoverable, user-verified,
// usable for passwordless sign-in) and security keys (roaming, attested,
// a second factor).
//
// Like every factor it is stateless: go-webauthn's SessionData travels as
// the ceremony state and its Credential as the credential state, both kept
// by the host, so a ceremony begun in one plugin process can finish in
// another.
package webauthnfactor

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
)

// Kind selects the factor.
type Kind string

// Kinds.
const (
	Passkey     Kind = "passkey"
	HardwareKey Kind = "hardwarekey"
)

// Version is the plugins' version.
const Version = "1.2.0"

// Setting defaults: what `make run` serves.
const (
	DefaultRPID   = "localhost"
	DefaultRPName = "Twofold"
	DefaultOrigin = "http://localhost:8080"
)

// Factor is a WebAuthn factor of one kind.
type Factor struct {
	kind Kind
	mu   sync.RWMutex
	cfg  *config
}

var _ factors.Factor = (*Factor)(nil)

// config is what Configure sets; it is replaced whole, never changed.
type config struct {
	wa *webauthn.WebAuthn
	// allowed AAGUIDs (security keys); empty allows any attested model.
	allowed []uuid.UUID
	// mds, when set, admits only FIDO-certified models (security keys).
	mds *certified
	// anyAttestation (attestation: any) accepts self-attestation, unknown
	// vendors and synced credentials as security keys.
	anyAttestation bool
	// roots are the vendor roots attestation certificates must chain to
	// when no FIDO metadata is configured (security keys).
	roots *x509.CertPool
}

// New returns the factor of the given kind with the default settings.
func New(kind Kind) *Factor {
	if kind != Passkey && kind != HardwareKey {
		panic(fmt.Sprintf("webauthnfactor: unknown kind %q", kind))
	}
	f := &Factor{kind: kind}
	if _, err := f.Configure(context.Background(), &factors.ConfigureRequest{}); err != nil {
		panic(err) // the defaults are valid
	}
	return f
}

func (f *Factor) config() *config {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cfg
}

// Describe says what the factor is and which settings it takes.
func (f *Factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	d := &factors.DescribeResponse{
		ID:              string(f.kind),
		Version:         Version,
		ProtocolVersion: factors.ProtocolVersion,
		SettingSchema: []factors.Setting{
			{Name: "rp_id", Default: DefaultRPID, Description: "WebAuthn relying party id, the site's domain"},
			{Name: "rp_name", Default: DefaultRPName, Description: "relying party name authenticators show"},
			{Name: "origins", Type: factors.SettingList, Default: DefaultOrigin, Description: "origins the pages are served from"},
		},
	}
	if f.kind == Passkey {
		d.DisplayName = "Passkey"
		d.Capabilities = []factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityPasswordless}
		return d, nil
	}
	d.DisplayName = "Security key"
	d.Capabilities = []factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityHardwareBound}
	d.SettingSchema = append(d.SettingSchema,
		factors.Setting{Name: "allowed_aaguids", Type: factors.SettingList, Default: "any model with a valid attestation",
			Description: "accepted authenticator model AAGUIDs"},
		factors.Setting{Name: "mds_file", Description: "path to a FIDO MDS3 blob (the JWT as downloaded): only the FIDO-certified models it lists, attested by their vendors' roots, are accepted"},
		factors.Setting{Name: "mds_root_cert", Default: "the FIDO production root", Description: "path to the root the MDS blob is signed under, PEM or base64 DER"},
		factors.Setting{Name: "attestation", Default: AttestationTrusted, Description: "trusted: only keys whose attestation chains to a trusted vendor root, never synced (backup-eligible) credentials; any: any verified attestation statement, self-attested and synced credentials included"},
		factors.Setting{Name: "attestation_roots", Description: "more vendor attestation roots to trust without mds_file, besides the shipped Yubico roots: PEM certificates, or the path of a PEM file"},
	)
	return d, nil
}

// Configure sets the relying party and, for security keys, the attestation
// policy. An empty value means the default.
func (f *Factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	wc := &webauthn.Config{RPID: DefaultRPID, RPDisplayName: DefaultRPName, RPOrigins: []string{DefaultOrigin}}
	cfg := &config{}
	var mdsFile, mdsRoot, roots string
	for k, v := range req.Settings {
		if !f.known(k) {
			return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("unknown setting %q", k))
		}
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		switch k {
		case "rp_id":
			wc.RPID = v
		case "rp_name":
			wc.RPDisplayName = v
		case "origins":
			wc.RPOrigins = splitList(v)
		case "allowed_aaguids":
			for _, s := range splitList(v) {
				id, err := uuid.Parse(s)
				if err != nil {
					return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("allowed_aaguids: %q is not a UUID", s))
				}
				cfg.allowed = append(cfg.allowed, id)
			}
		case "mds_file":
			mdsFile = v
		case "mds_root_cert":
			mdsRoot = v
		case "attestation":
			switch v {
			case AttestationTrusted:
			case AttestationAny:
				cfg.anyAttestation = true
			default:
				return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("attestation: %q is not %s or %s", v, AttestationTrusted, AttestationAny))
			}
		case "attestation_roots":
			roots = v
		}
	}
	if mdsRoot != "" && mdsFile == "" {
		return nil, factors.Errorf(factors.ErrBadRequest, "mds_root_cert is set without mds_file")
	}
	if f.kind == HardwareKey {
		var err error
		if cfg.roots, err = loadRoots(roots); err != nil {
			return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
		}
	}
	if mdsFile != "" {
		var err error
		if cfg.mds, err = loadMDS(mdsFile, mdsRoot, time.Now()); err != nil {
			return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
		}
		// go-webauthn then checks each attestation's trust path against
		// the model's roots in the blob, at enrolment and at every login.
		wc.MDS = cfg.mds.provider
	}
	wa, err := webauthn.New(wc)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	cfg.wa = wa
	f.mu.Lock()
	f.cfg = cfg
	f.mu.Unlock()
	return &factors.ConfigureResponse{}, nil
}

// known reports whether k is one of the factor's settings.
func (f *Factor) known(k string) bool {
	switch k {
	case "rp_id", "rp_name", "origins":
		return true
	case "allowed_aaguids", "mds_file", "mds_root_cert", "attestation", "attestation_roots":
		return f.kind == HardwareKey
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
