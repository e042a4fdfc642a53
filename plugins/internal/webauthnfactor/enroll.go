package webauthnfactor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
)

// BeginEnrollment returns CredentialCreationOptions ({"publicKey": ...}),
// excluding the user's existing credentials so an authenticator is not
// registered twice.
func (f *Factor) BeginEnrollment(_ context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	existing, err := decodeCredentials(req.Existing)
	if err != nil {
		return nil, err
	}
	u, err := newUser(req.User, existing...)
	if err != nil {
		return nil, err
	}
	exclusions := make([]protocol.CredentialDescriptor, len(existing))
	for i, c := range existing {
		exclusions[i] = c.Descriptor()
	}
	opts := []webauthn.RegistrationOption{webauthn.WithExclusions(exclusions)}
	if f.kind == Passkey {
		// A passkey must be discoverable (passwordless sign-in finds the
		// user by it) and user-verifying (it is both factors at once).
		opts = append(opts,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				ResidentKey:        protocol.ResidentKeyRequirementRequired,
				RequireResidentKey: protocol.ResidentKeyRequired(),
				UserVerification:   protocol.VerificationRequired,
			}),
			webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	} else {
		// A security key follows a password: no PIN prompt, no resident
		// key slot used up; its model is proved by direct attestation.
		opts = append(opts,
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
				AuthenticatorAttachment: protocol.CrossPlatform,
				ResidentKey:             protocol.ResidentKeyRequirementDiscouraged,
				UserVerification:        protocol.VerificationDiscouraged,
			}),
			webauthn.WithConveyancePreference(protocol.PreferDirectAttestation))
	}
	creation, session, err := f.config().wa.BeginRegistration(u, opts...)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
	}
	clientData, err := json.Marshal(creation)
	if err != nil {
		return nil, err
	}
	pending, err := encodeSession(session)
	if err != nil {
		return nil, err
	}
	return &factors.BeginEnrollmentResponse{ClientData: clientData, PendingState: pending}, nil
}

// FinishEnrollment verifies the new credential and its attestation.
func (f *Factor) FinishEnrollment(_ context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	cfg := f.config()
	session, err := decodeSession(req.PendingState)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Response)
	if err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, "not a PublicKeyCredential: "+errDetail(err))
	}
	u, err := newUser(req.User)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(session.UserID, u.WebAuthnID()) {
		return nil, factors.Errorf(factors.ErrBadRequest, "the enrolment was begun for another user")
	}
	cred, err := cfg.wa.CreateCredential(u, *session, parsed)
	if err != nil {
		// go-webauthn refuses a model missing from the metadata with a
		// generic metadata error; name the model instead.
		if id := aaguid(parsed.Response.AttestationObject.AuthData.AttData.AAGUID); isMetadataError(err) && !cfg.mds.certifies(id) {
			return nil, notCertified(id)
		}
		return nil, classify(err)
	}
	if f.kind == HardwareKey {
		if err := cfg.checkAttestation(cred); err != nil {
			return nil, err
		}
	}
	state, err := encodeCredential(cred, "")
	if err != nil {
		return nil, err
	}
	meta := cfg.metadata(cred)
	label := meta["authenticator"]
	if label == "" {
		label = defaultLabels[f.kind]
	}
	return &factors.FinishEnrollmentResponse{State: state, Label: label, ExternalID: cred.ID, Metadata: meta}, nil
}

// defaultLabels name credentials whose model has no known name.
var defaultLabels = map[Kind]string{Passkey: "Passkey", HardwareKey: "Security key"}

// checkAttestation applies the security key policy to a credential whose
// attestation statement go-webauthn verified: there must be one (not
// "none"), from an allowed model; and unless the policy is
// AttestationAny, the credential must stay in the key (not backup
// eligible) and a vendor certificate (not a self-signature) must vouch for
// the model: with metadata a certified model's, else one chaining to a
// trusted root.
//
// Without metadata the AAGUID is only what the authenticator says of
// itself: the allow-list keeps honest keys of other models out, not a
// forged one; the vendor root proves the vendor, not the model.
func (c *config) checkAttestation(cred *webauthn.Credential) error {
	if cred.AttestationFormat == "" || cred.AttestationFormat == string(protocol.AttestationFormatNone) {
		return factors.Errorf(factors.ErrAttestationRefused, "the security key gave no attestation; use a key that supports direct attestation")
	}
	id := aaguid(cred.Authenticator.AAGUID)
	if id == uuid.Nil {
		return factors.Errorf(factors.ErrAttestationRefused, "the security key gave no model id (AAGUID)")
	}
	if len(c.allowed) > 0 && !slices.Contains(c.allowed, id) {
		return factors.Errorf(factors.ErrAttestationRefused, fmt.Sprintf("security key model %s is not on the allowed list", id))
	}
	if !c.anyAttestation && cred.Flags.BackupEligible {
		return factors.Errorf(factors.ErrAttestationRefused, reasonSynced)
	}
	if c.mds == nil {
		if c.anyAttestation {
			return nil
		}
		return c.checkVendor(cred, time.Now())
	}
	if !c.mds.certifies(id) {
		return notCertified(id)
	}
	if cred.AttestationType != string(metadata.BasicFull) && cred.AttestationType != string(metadata.AttCA) {
		return factors.Errorf(factors.ErrAttestationRefused, fmt.Sprintf("the security key attested itself (%s); its vendor's certificate is required", cred.AttestationType))
	}
	return nil
}

func notCertified(id uuid.UUID) error {
	return factors.Errorf(factors.ErrAttestationRefused, fmt.Sprintf("security key model %s is not FIDO certified", id))
}

// aaguid reads an AAGUID; anything but 16 bytes reads as the nil UUID
// ("no model given").
func aaguid(b []byte) uuid.UUID {
	id, err := uuid.FromBytes(b)
	if err != nil {
		return uuid.Nil
	}
	return id
}
