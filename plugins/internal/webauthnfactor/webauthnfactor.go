// Package webauthnfactor implements the two WebAuthn factors on
// github.com/go-webauthn/webauthn: passkeys (discoverable, user-verified,
// passwordless-capable) and hardware security keys (roaming, attested, as
// a second factor). Like every factor it is stateless: ceremony session
// data and credentials travel in the state the host keeps, so a ceremony
// begun on one server finishes on another.
package webauthnfactor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
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
const Version = "1.0.0"

// Factor is a WebAuthn factor of one kind.
type Factor struct {
	kind Kind
	mu   sync.RWMutex
	wa   *webauthn.WebAuthn
	// allowed AAGUIDs (hardware keys); empty allows any attested key.
	allowed []uuid.UUID
	// mds, when loaded, admits only FIDO-certified models (hardware keys).
	mds certified
}

var _ factors.Factor = (*Factor)(nil)

// New returns the factor with localhost defaults (what `make run` serves).
func New(kind Kind) *Factor {
	f := &Factor{kind: kind}
	if _, err := f.Configure(context.Background(), &factors.ConfigureRequest{}); err != nil {
		panic(err) // the defaults are valid
	}
	return f
}

// Describe says what the factor is.
func (f *Factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	settings := map[string]string{
		"rp_id":   "WebAuthn relying party id, the site's domain (default localhost)",
		"rp_name": "relying party name shown by authenticators (default Twofold)",
		"origins": "comma list of allowed origins (default http://localhost:8080)",
	}
	if f.kind == Passkey {
		return &factors.DescribeResponse{ID: string(Passkey), DisplayName: "Passkey", Version: Version, ProtocolVersion: factors.ProtocolVersion,
			Capabilities: []factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityPasswordless}, Settings: settings}, nil
	}
	settings["allowed_aaguids"] = "comma list of authenticator AAGUIDs accepted (default: any key with a valid attestation)"
	settings["mds_file"] = "path to a FIDO MDS3 blob (JWT): only models it lists as FIDO certified are accepted"
	settings["mds_root_cert"] = "path to the MDS signing root (PEM or base64 DER; default: the FIDO production root)"
	return &factors.DescribeResponse{ID: string(HardwareKey), DisplayName: "Security key", Version: Version, ProtocolVersion: factors.ProtocolVersion,
		Capabilities: []factors.Capability{factors.CapabilityPhishingResistant, factors.CapabilityHardwareBound}, Settings: settings}, nil
}

// Configure sets the relying party and, for hardware keys, the allow-list.
func (f *Factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	cfg := &webauthn.Config{RPID: "localhost", RPDisplayName: "Twofold", RPOrigins: []string{"http://localhost:8080"}}
	var allowed []uuid.UUID
	var mdsFile, mdsRoot string
	for k, v := range req.Settings {
		switch {
		case k == "rp_id":
			cfg.RPID = v
		case k == "rp_name":
			cfg.RPDisplayName = v
		case k == "origins":
			cfg.RPOrigins = splitList(v)
		case k == "allowed_aaguids" && f.kind == HardwareKey:
			for _, s := range splitList(v) {
				id, err := uuid.Parse(s)
				if err != nil {
					return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("allowed_aaguids: %q is not a UUID", s))
				}
				allowed = append(allowed, id)
			}
		case k == "mds_file" && f.kind == HardwareKey:
			mdsFile = v
		case k == "mds_root_cert" && f.kind == HardwareKey:
			mdsRoot = v
		default:
			return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("unknown setting %q", k))
		}
	}
	var mds certified
	if mdsFile != "" {
		var err error
		if mds, err = loadMDS(mdsFile, mdsRoot, time.Now()); err != nil {
			return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
		}
	}
	if f.kind == Passkey {
		cfg.AttestationPreference = protocol.PreferNoAttestation
	} else {
		cfg.AttestationPreference = protocol.PreferDirectAttestation
	}
	wa, err := webauthn.New(cfg)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	f.mu.Lock()
	f.wa, f.allowed, f.mds = wa, allowed, mds
	f.mu.Unlock()
	return &factors.ConfigureResponse{}, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (f *Factor) webauthn() (*webauthn.WebAuthn, []uuid.UUID) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.wa, f.allowed
}

func (f *Factor) certified() certified {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.mds
}

// user adapts a host user and their credentials to go-webauthn.
type user struct {
	id, name, display string
	creds             []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.display }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newUser(fu factors.User, creds []factors.Credential) (*user, error) {
	if fu.ID == "" || fu.Name == "" {
		return nil, factors.Errorf(factors.ErrBadRequest, "the user needs an id and a name")
	}
	u := &user{id: fu.ID, name: fu.Name, display: fu.DisplayName}
	if u.display == "" {
		u.display = u.name
	}
	for _, c := range creds {
		wc, err := decodeCredential(c.State)
		if err != nil {
			return nil, err
		}
		u.creds = append(u.creds, *wc)
	}
	return u, nil
}

func decodeCredential(state []byte) (*webauthn.Credential, error) {
	var c webauthn.Credential
	if err := json.Unmarshal(state, &c); err != nil || len(c.ID) == 0 {
		return nil, factors.Errorf(factors.ErrBadRequest, "unreadable credential state")
	}
	return &c, nil
}

func decodeSession(state []byte) (*webauthn.SessionData, error) {
	var s webauthn.SessionData
	if len(state) == 0 {
		return nil, factors.Errorf(factors.ErrBadRequest, "no ceremony in progress: call beginVerification first")
	}
	if err := json.Unmarshal(state, &s); err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "unreadable ceremony state")
	}
	return &s, nil
}

// BeginEnrollment returns CredentialCreationOptions ({"publicKey": ...}),
// excluding the user's registered credentials.
func (f *Factor) BeginEnrollment(_ context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	wa, _ := f.webauthn()
	u, err := newUser(req.User, req.Existing)
	if err != nil {
		return nil, err
	}
	exclusions := make([]protocol.CredentialDescriptor, len(u.creds))
	for i, c := range u.creds {
		exclusions[i] = c.Descriptor()
	}
	opts := []webauthn.RegistrationOption{webauthn.WithExclusions(exclusions)}
	if f.kind == Passkey {
		opts = append(opts,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
				UserVerification: protocol.VerificationRequired,
			}),
			webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	} else {
		opts = append(opts,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				AuthenticatorAttachment: protocol.CrossPlatform, ResidentKey: protocol.ResidentKeyRequirementDiscouraged,
				UserVerification: protocol.VerificationDiscouraged,
			}),
			webauthn.WithConveyancePreference(protocol.PreferDirectAttestation))
	}
	creation, session, err := wa.BeginRegistration(u, opts...)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	cd, err := json.Marshal(creation)
	if err != nil {
		return nil, err
	}
	st, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	return &factors.BeginEnrollmentResponse{ClientData: cd, PendingState: st}, nil
}

// FinishEnrollment verifies the attestation and returns the credential.
func (f *Factor) FinishEnrollment(_ context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	wa, allowed := f.webauthn()
	session, err := decodeSession(req.PendingState)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Response)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "not a PublicKeyCredential: "+errDetail(err))
	}
	u, err := newUser(req.User, nil)
	if err != nil {
		return nil, err
	}
	cred, err := wa.CreateCredential(u, *session, parsed)
	if err != nil {
		return nil, classify(err)
	}
	mds := f.certified()
	if f.kind == HardwareKey {
		if err := checkAttestation(cred, allowed, mds); err != nil {
			return nil, err
		}
	}
	state, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	meta := credentialMetadata(cred)
	if id, err := uuid.FromBytes(cred.Authenticator.AAGUID); err == nil && mds[id] != "" {
		meta["authenticator"] = mds[id]
	}
	label := meta["authenticator"]
	switch {
	case label != "":
	case f.kind == Passkey:
		label = "Passkey"
	default:
		label = "Security key"
	}
	return &factors.FinishEnrollmentResponse{State: state, Label: label, ExternalID: cred.ID, Metadata: meta}, nil
}

// checkAttestation applies the hardware-key policy: a verified attestation
// statement (not "none") from an allowed authenticator model.
func checkAttestation(cred *webauthn.Credential, allowed []uuid.UUID, mds certified) error {
	if cred.AttestationFormat == "" || cred.AttestationFormat == "none" || cred.AttestationType == "none" {
		return factors.Errorf(factors.ErrAttestationRefused, "the security key gave no attestation; use a key that supports direct attestation")
	}
	aaguid, err := uuid.FromBytes(cred.Authenticator.AAGUID)
	if err != nil {
		return factors.Errorf(factors.ErrAttestationRefused, "the security key gave no model id")
	}
	if len(allowed) > 0 && !slices.Contains(allowed, aaguid) {
		return factors.Errorf(factors.ErrAttestationRefused, fmt.Sprintf("security key model %s is not on the allowed list", aaguid))
	}
	if mds != nil {
		if _, ok := mds[aaguid]; !ok {
			return factors.Errorf(factors.ErrAttestationRefused, fmt.Sprintf("security key model %s is not FIDO certified", aaguid))
		}
	}
	return nil
}

func credentialMetadata(c *webauthn.Credential) map[string]string {
	m := map[string]string{
		"backup_eligible":    fmt.Sprint(c.Flags.BackupEligible),
		"backup_state":       fmt.Sprint(c.Flags.BackupState),
		"attestation_format": c.AttestationFormat,
	}
	if id, err := uuid.FromBytes(c.Authenticator.AAGUID); err == nil {
		m["aaguid"] = id.String()
		if name, ok := knownAuthenticators[id.String()]; ok {
			m["authenticator"] = name
		}
	}
	var ts []string
	for _, t := range c.Transport {
		ts = append(ts, string(t))
	}
	if len(ts) > 0 {
		m["transports"] = strings.Join(ts, ",")
	}
	return m
}

// BeginVerification returns CredentialRequestOptions for the credentials,
// or for any discoverable credential (passkey sign-in) when none are given.
func (f *Factor) BeginVerification(_ context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	wa, _ := f.webauthn()
	uv := protocol.VerificationRequired
	if f.kind == HardwareKey {
		uv = protocol.VerificationDiscouraged
	}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	if len(req.Credentials) == 0 {
		if f.kind != Passkey {
			return nil, factors.Errorf(factors.ErrUnsupported, "security keys are a second factor: name the credential")
		}
		assertion, session, err = wa.BeginDiscoverableLogin(webauthn.WithUserVerification(uv))
	} else {
		var u *user
		if u, err = newUser(req.User, req.Credentials); err != nil {
			return nil, err
		}
		assertion, session, err = wa.BeginLogin(u, webauthn.WithUserVerification(uv))
	}
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	cd, err := json.Marshal(assertion)
	if err != nil {
		return nil, err
	}
	st, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	return &factors.BeginVerificationResponse{ClientData: cd, SessionState: st}, nil
}

// FinishVerification checks an assertion against one credential and
// returns it with the new signature count. A counter that did not advance
// (when the authenticator keeps one) is refused as a possible clone.
func (f *Factor) FinishVerification(_ context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	wa, _ := f.webauthn()
	session, err := decodeSession(req.SessionState)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Response)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "not a PublicKeyCredential assertion: "+errDetail(err))
	}
	u, err := newUser(req.User, []factors.Credential{req.Credential})
	if err != nil {
		return nil, err
	}
	stored := u.creds[0]
	if !bytes.Equal(parsed.RawID, stored.ID) {
		return nil, factors.Errorf(factors.ErrInvalidResponse, "the assertion was made with another credential")
	}
	var cred *webauthn.Credential
	if len(session.UserID) == 0 {
		// Discoverable sign-in: the host found the user by this credential;
		// the user handle must name the same user.
		cred, err = wa.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, u.WebAuthnID()) {
				return nil, errors.New("the user handle does not match the credential's user")
			}
			return u, nil
		}, *session, parsed)
	} else {
		cred, err = wa.ValidateLogin(u, *session, parsed)
	}
	if err != nil {
		return nil, classify(err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, factors.Errorf(factors.ErrCloneWarning, fmt.Sprintf("signature counter went from %d to %d", stored.Authenticator.SignCount, parsed.Response.AuthenticatorData.Counter))
	}
	state, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	return &factors.FinishVerificationResponse{State: state, Metadata: credentialMetadata(cred)}, nil
}

// IdentifyCredential reads the credential id and user handle of an
// assertion without verifying it.
func (f *Factor) IdentifyCredential(_ context.Context, req *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Response)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "not a PublicKeyCredential assertion: "+errDetail(err))
	}
	return &factors.IdentifyCredentialResponse{ExternalID: parsed.RawID, UserID: string(parsed.Response.UserHandle)}, nil
}

// classify maps go-webauthn's failures to factor errors, keeping its detail
// (which names what failed, never a secret).
func classify(err error) error {
	d := errDetail(err)
	low := strings.ToLower(d)
	switch {
	case strings.Contains(low, "user verification") || strings.Contains(low, "user verified"):
		return factors.Errorf(factors.ErrUserVerificationRequired, d)
	case strings.Contains(low, "attestation"):
		return factors.Errorf(factors.ErrAttestationRefused, d)
	}
	return factors.Errorf(factors.ErrInvalidResponse, d)
}

func errDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" {
			return pe.Details + ": " + pe.DevInfo
		}
		return pe.Details
	}
	return err.Error()
}
