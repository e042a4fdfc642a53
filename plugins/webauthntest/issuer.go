package webauthntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"slices"
	"time"
)

// coseES256 is the COSE algorithm id of ECDSA P-256 with SHA-256.
const coseES256 = -7

// oidFIDOAAGUID is id-fido-gen-ce-aaguid: the model's AAGUID in an
// attestation certificate.
var oidFIDOAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

// Issuer is an authenticator vendor's attestation root: it certifies the
// attestation keys of its models. Put Certificate in a FIDO metadata
// statement's attestationRootCertificates to make its keys trusted.
type Issuer struct {
	Certificate *x509.Certificate
	key         *ecdsa.PrivateKey
	// chain is Certificate and the intermediates above it, DER, up to but
	// not including the root: what an attestation statement's x5c carries
	// after the attestation certificate. Empty for a root.
	chain [][]byte
}

// NewIssuer returns a self-signed attestation root valid for a day.
func NewIssuer() (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := certTemplate(pkix.Name{Country: []string{"US"}, Organization: []string{"Twofold Test Vendor"}, CommonName: "Twofold Test Attestation Root"})
	tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Issuer{Certificate: cert, key: key}, nil
}

// NewIntermediate returns a CA certified by i: attestation certificates
// it issues come with it in x5c, as recent YubiKeys send theirs.
func (i *Issuer) NewIntermediate() (*Issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := certTemplate(pkix.Name{Country: []string{"US"}, Organization: []string{"Twofold Test Vendor"}, CommonName: "Twofold Test Attestation Intermediate"})
	tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.Certificate, &key.PublicKey, i.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Issuer{Certificate: cert, key: key, chain: append([][]byte{der}, i.chain...)}, nil
}

// attestationKey is a model's attestation key and its certificate, shared
// by every credential the authenticator creates (batch attestation).
type attestationKey struct {
	key *ecdsa.PrivateKey
	x5c [][]byte // the attestation certificate, then its issuers below the root
}

func (i *Issuer) certify(aaguid [16]byte) (*attestationKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ext, err := asn1.Marshal(aaguid[:])
	if err != nil {
		return nil, err
	}
	// The subject a packed attestation certificate must have (WebAuthn
	// §8.2.1), so verifiers accept it.
	tmpl := certTemplate(pkix.Name{Country: []string{"US"}, Organization: []string{"Twofold Test Vendor"},
		OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "Twofold Test Key"})
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtraExtensions = []pkix.Extension{{Id: oidFIDOAAGUID, Value: ext}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.Certificate, &key.PublicKey, i.key)
	if err != nil {
		return nil, err
	}
	return &attestationKey{key: key, x5c: append([][]byte{der}, i.chain...)}, nil
}

func certTemplate(subject pkix.Name) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial, Subject: subject,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		BasicConstraintsValid: true,
	}
}

// basicStatement is a packed attestation statement with an x5c chain: the
// attestation key signs authenticator data and client data hash.
func (a *Authenticator) basicStatement(authData []byte, clientDataHash [32]byte) (map[string]any, error) {
	if a.att == nil {
		issuer := a.Options.Issuer
		if issuer == nil {
			var err error
			if issuer, err = NewIssuer(); err != nil {
				return nil, err
			}
		}
		att, err := issuer.certify(a.aaguid)
		if err != nil {
			return nil, err
		}
		a.att = att
	}
	digest := sha256.Sum256(slices.Concat(authData, clientDataHash[:]))
	sig, err := a.att.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return map[string]any{"alg": coseES256, "sig": sig, "x5c": a.att.x5c}, nil
}

// PEM is the root certificate in PEM, as the hardwarekey factor's
// attestation_roots setting takes it.
func (i *Issuer) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.Certificate.Raw}))
}
