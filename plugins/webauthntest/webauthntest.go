// Package webauthntest is the software WebAuthn authenticator of every test
// (unit, conformance and end-to-end), on
// github.com/descope/virtualwebauthn. It plays the browser and the
// authenticator together: given the options JSON a factor returned
// (BeginEnrollment's or BeginVerification's ClientData), it returns the
// PublicKeyCredential JSON a browser would send back.
//
//	a := webauthntest.NewAuthenticator(webauthntest.Options{})
//	resp, err := a.Register("http://localhost:8080", begin.ClientData)
//	resp, err = a.Login("http://localhost:8080", challenge.ClientData)
//
// Unlike virtualwebauthn alone it can also answer with no attestation or
// with an x5c certificate chain, keeps a signature counter, refuses
// excluded credentials as a real authenticator does, and draws only keys
// whose coordinates are full length (virtualwebauthn alone writes one key
// in 128 that verifiers refuse).
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	vw "github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/google/uuid"
)

// Attestation is the attestation statement an authenticator gives when it
// creates a credential.
type Attestation string

// Attestations.
const (
	// AttestationSelf is a "packed" statement signed with the credential's
	// own key: it proves nothing about the model (the default).
	AttestationSelf Attestation = "self"
	// AttestationNone is the "none" format, as passkey providers send.
	AttestationNone Attestation = "none"
	// AttestationBasic is a "packed" statement with an x5c attestation
	// certificate issued by Options.Issuer, as security keys send.
	AttestationBasic Attestation = "basic"
)

// Errors a real authenticator reports to the page as DOMExceptions.
var (
	// ErrExcluded: a credential in excludeCredentials is on this
	// authenticator (InvalidStateError).
	ErrExcluded = errors.New("webauthntest: the authenticator already holds an excluded credential")
	// ErrNoCredential: no credential on this authenticator fits the request
	// (NotAllowedError).
	ErrNoCredential = errors.New("webauthntest: no matching credential")
)

// Options shape an authenticator. The zero value is a user-verifying,
// self-attesting authenticator of a random model.
type Options struct {
	// AAGUID identifies the model; zero means a random one.
	AAGUID uuid.UUID
	// Attestation is the statement Register returns (default AttestationSelf).
	Attestation Attestation
	// Issuer certifies the attestation key for AttestationBasic; nil means
	// a fresh issuer of the authenticator's own.
	Issuer *Issuer
	// UserNotVerified clears the UV flag: no PIN or biometric was checked.
	UserNotVerified bool
	// Counter is the signature counter to start from.
	Counter uint32
	// FixedCounter keeps the counter where it is, as synced passkeys do
	// (they always report 0).
	FixedCounter bool
	// BackupEligible and BackupState set the BE and BS flags (synced
	// passkeys have both).
	BackupEligible, BackupState bool
	// Transports is what the browser reports from getTransports().
	Transports []string
	// RPID, when set, is signed for instead of the RP id the options name:
	// a response meant for another site.
	RPID string
}

// Authenticator holds the credentials it created. It is not safe for
// concurrent use.
type Authenticator struct {
	// Options may be changed between ceremonies (e.g. UserNotVerified).
	Options Options
	// Counter is the signature counter: Login adds one before signing
	// unless Options.FixedCounter. Set it back to play a cloned key.
	Counter uint32

	aaguid uuid.UUID
	creds  []credential
	att    *attestationKey
}

type credential struct {
	vw.Credential
	rpID       string
	userHandle []byte
}

// NewAuthenticator returns an authenticator with no credentials.
func NewAuthenticator(o Options) *Authenticator {
	a := &Authenticator{Options: o, Counter: o.Counter, aaguid: o.AAGUID}
	if a.aaguid == uuid.Nil {
		a.aaguid = uuid.New()
	}
	return a
}

// AAGUID is the authenticator's model id.
func (a *Authenticator) AAGUID() uuid.UUID { return a.aaguid }

// Register answers CredentialCreationOptions JSON ({"publicKey": {...}}),
// as navigator.credentials.create() run at origin would, with a new
// credential.
func (a *Authenticator) Register(origin string, clientData json.RawMessage) (json.RawMessage, error) {
	opts, err := vw.ParseAttestationOptions(string(clientData))
	if err != nil {
		return nil, fmt.Errorf("webauthntest: creation options: %w", err)
	}
	for _, c := range a.creds {
		if c.IsExcludedForAttestation(*opts) {
			return nil, ErrExcluded
		}
	}
	rp, err := a.relyingParty(origin, opts.RelyingPartyID)
	if err != nil {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	c := credential{Credential: vw.NewCredentialWithImportedKey(vw.KeyTypeEC2, key), rpID: opts.RelyingPartyID, userHandle: []byte(opts.UserID)}
	c.Counter = a.Counter
	resp, err := a.attest(vw.CreateAttestationResponse(rp, a.device(c.userHandle), c.Credential, *opts))
	if err != nil {
		return nil, err
	}
	a.creds = append(a.creds, c)
	return resp, nil
}

// Login answers CredentialRequestOptions JSON, as
// navigator.credentials.get() run at origin would. With allowCredentials it
// signs with the first listed credential it holds; without (a discoverable
// request) with the newest credential for the RP id.
func (a *Authenticator) Login(origin string, clientData json.RawMessage) (json.RawMessage, error) {
	opts, err := vw.ParseAssertionOptions(string(clientData))
	if err != nil {
		return nil, fmt.Errorf("webauthntest: request options: %w", err)
	}
	c := a.find(opts)
	if c == nil {
		return nil, ErrNoCredential
	}
	rp, err := a.relyingParty(origin, opts.RelyingPartyID)
	if err != nil {
		return nil, err
	}
	if !a.Options.FixedCounter {
		a.Counter++
	}
	c.Counter = a.Counter
	return json.RawMessage(vw.CreateAssertionResponse(rp, a.device(c.userHandle), c.Credential, *opts)), nil
}

// newKey returns a P-256 credential key in PKCS #8. virtualwebauthn writes
// the public key's coordinates without their leading zero bytes, which
// verifiers refuse ("EC2 key x or y coordinate has invalid length", one key
// in 128): such keys are drawn again.
func newKey() ([]byte, error) {
	for {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		point, err := key.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
		if err != nil {
			return nil, err
		}
		if point[1] != 0 && point[33] != 0 {
			return x509.MarshalPKCS8PrivateKey(key)
		}
	}
}

func (a *Authenticator) find(opts *vw.AssertionOptions) *credential {
	for i := len(a.creds) - 1; i >= 0; i-- {
		c := &a.creds[i]
		if (len(opts.AllowCredentials) == 0 && c.rpID == opts.RelyingPartyID) || c.IsAllowedForAssertion(*opts) {
			return c
		}
	}
	return nil
}

// relyingParty is what the authenticator signs for: the origin the browser
// reports and the RP id it hashes. Like a browser, it takes the RP id from
// the options, or the origin's host when they name none.
func (a *Authenticator) relyingParty(origin, rpID string) (vw.RelyingParty, error) {
	switch {
	case a.Options.RPID != "":
		rpID = a.Options.RPID
	case rpID == "":
		u, err := url.Parse(origin)
		if err != nil || u.Hostname() == "" {
			return vw.RelyingParty{}, fmt.Errorf("webauthntest: origin %q has no host", origin)
		}
		rpID = u.Hostname()
	}
	return vw.RelyingParty{ID: rpID, Origin: origin}, nil
}

func (a *Authenticator) device(userHandle []byte) vw.Authenticator {
	return vw.Authenticator{
		Aaguid: a.aaguid,
		Options: vw.AuthenticatorOptions{
			UserHandle:      userHandle,
			UserNotVerified: a.Options.UserNotVerified,
			BackupEligible:  a.Options.BackupEligible,
			BackupState:     a.Options.BackupState,
		},
	}
}

// browserCredential is the PublicKeyCredential JSON a browser sends.
type browserCredential struct {
	Type                    string         `json:"type"`
	ID                      string         `json:"id"`
	RawID                   string         `json:"rawId"`
	AuthenticatorAttachment string         `json:"authenticatorAttachment,omitempty"`
	ClientExtensionResults  map[string]any `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON    string   `json:"clientDataJSON"`
		AttestationObject string   `json:"attestationObject"`
		Transports        []string `json:"transports,omitempty"`
	} `json:"response"`
}

type attestationObject struct {
	Format    string         `cbor:"fmt"`
	Statement map[string]any `cbor:"attStmt"`
	AuthData  []byte         `cbor:"authData"`
}

// attest rewrites virtualwebauthn's self-attested response into the
// configured attestation, and adds what browsers add.
func (a *Authenticator) attest(raw string) (json.RawMessage, error) {
	var bc browserCredential
	if err := json.Unmarshal([]byte(raw), &bc); err != nil {
		return nil, err
	}
	bc.ClientExtensionResults = map[string]any{}
	bc.Response.Transports = a.Options.Transports
	if slices.ContainsFunc(a.Options.Transports, func(t string) bool { return t == "internal" }) {
		bc.AuthenticatorAttachment = "platform"
	} else if len(a.Options.Transports) > 0 {
		bc.AuthenticatorAttachment = "cross-platform"
	}
	if a.Options.Attestation == AttestationNone || a.Options.Attestation == AttestationBasic {
		obj, err := base64.RawURLEncoding.DecodeString(bc.Response.AttestationObject)
		if err != nil {
			return nil, err
		}
		var ao attestationObject
		if err := webauthncbor.Unmarshal(obj, &ao); err != nil {
			return nil, err
		}
		if a.Options.Attestation == AttestationNone {
			ao.Format, ao.Statement = "none", map[string]any{}
		} else {
			cdj, err := base64.RawURLEncoding.DecodeString(bc.Response.ClientDataJSON)
			if err != nil {
				return nil, err
			}
			if ao.Statement, err = a.basicStatement(ao.AuthData, sha256.Sum256(cdj)); err != nil {
				return nil, err
			}
		}
		if obj, err = webauthncbor.Marshal(ao); err != nil {
			return nil, err
		}
		bc.Response.AttestationObject = base64.RawURLEncoding.EncodeToString(obj)
	}
	return json.Marshal(bc)
}

// Solver plays the user's device in factortest's conformance suite (it
// implements factortest.Solver).
type Solver struct {
	Authenticator *Authenticator
	// Origin is the page's origin, one the factor is configured to accept.
	Origin string
}

// Enroll answers BeginEnrollment's client data.
func (s Solver) Enroll(clientData json.RawMessage) (json.RawMessage, error) {
	return s.Authenticator.Register(s.Origin, clientData)
}

// Verify answers BeginVerification's client data.
func (s Solver) Verify(_, clientData json.RawMessage) (json.RawMessage, error) {
	return s.Authenticator.Login(s.Origin, clientData)
}
