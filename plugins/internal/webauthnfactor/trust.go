package webauthnfactor

import (
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofoldauth/twofold/factors"
)

// Attestation policies of the security key factor (the "attestation"
// setting).
const (
	// AttestationTrusted, the default, accepts a security key only when its
	// attestation certificate chains to a trusted vendor root (the FIDO
	// metadata when configured, else the shipped roots and
	// attestation_roots), and refuses credentials that can be synced
	// (backup eligible).
	AttestationTrusted = "trusted"
	// AttestationAny accepts any attestation statement that verifies,
	// self-attestation and unknown vendors included, and synced
	// credentials: what Twofold did before 1.2. A passkey then passes as
	// a security key.
	AttestationAny = "any"
)

// vendorRoots are the attestation roots Twofold ships (roots/*.pem): the
// published FIDO attestation roots of common security key vendors.
//
//	yubico-u2f-root-ca-457200631.pem   Yubico U2F Root CA Serial 457200631 (YubiKeys before firmware 5.7)
//	yubico-fido-root-ca-450203556.pem  Yubico FIDO Root CA Serial 450203556 (firmware 5.7)
//	yubico-attestation-root-1.pem      Yubico Attestation Root 1 (firmware 5.7.4 and later)
//
// Source: https://developers.yubico.com/PKI/yubico-ca-certs.txt; the
// SHA-256 fingerprints are pinned by TestShippedVendorRoots. Other
// vendors' roots are added with attestation_roots, or come with the FIDO
// metadata (mds_file).
//
//go:embed roots/*.pem
var vendorRoots embed.FS

// shippedRoots parses vendorRoots.
func shippedRoots() ([]*x509.Certificate, error) {
	entries, err := vendorRoots.ReadDir("roots")
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, e := range entries {
		b, err := vendorRoots.ReadFile(path.Join("roots", e.Name()))
		if err != nil {
			return nil, err
		}
		certs, err := parsePEMCerts(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, certs...)
	}
	return out, nil
}

// loadRoots returns the shipped vendor roots plus those of the
// attestation_roots setting: PEM certificates, or the path of a PEM file.
func loadRoots(setting string) (*x509.CertPool, error) {
	certs, err := shippedRoots()
	if err != nil {
		return nil, err
	}
	if setting != "" {
		b := []byte(setting)
		if !strings.HasPrefix(setting, "-----BEGIN") {
			if b, err = os.ReadFile(setting); err != nil {
				return nil, fmt.Errorf("attestation_roots: %w", err)
			}
		}
		extra, err := parsePEMCerts(b)
		if err != nil {
			return nil, fmt.Errorf("attestation_roots: %w", err)
		}
		certs = append(certs, extra...)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parsePEMCerts reads every CERTIFICATE block; there must be one at least.
func parsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// Reasons for refusing a security key: user-safe, they reach the client.
const (
	reasonSynced        = "this authenticator's credentials can be copied to other devices (a synced passkey), not kept in a security key; use a hardware security key, or enrol it as a passkey"
	reasonSelfAttested  = "the security key did not prove its model (it attested itself); use a security key from a known vendor"
	reasonUntrustedRoot = "the security key's attestation certificate is not from a trusted vendor"
)

// checkVendor applies the default policy without FIDO metadata: a
// credential kept in the key (not backup eligible) whose attestation
// certificate chains to a trusted root.
func (c *config) checkVendor(cred *webauthn.Credential, now time.Time) error {
	if cred.AttestationType != string(metadata.BasicFull) && cred.AttestationType != string(metadata.AttCA) {
		return factors.Errorf(factors.ErrAttestationRefused, reasonSelfAttested)
	}
	chain, err := attestationChain(cred)
	if err != nil || len(chain) == 0 {
		return factors.Errorf(factors.ErrAttestationRefused, reasonUntrustedRoot)
	}
	intermediates := x509.NewCertPool()
	for _, ic := range chain[1:] {
		intermediates.AddCert(ic)
	}
	// Attestation certificates carry no extended key usage for this.
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return factors.Errorf(factors.ErrAttestationRefused, reasonUntrustedRoot)
	}
	return nil
}

// attestationChain reads the x5c certificates of the credential's
// attestation statement, attestation certificate first. go-webauthn
// verified the statement's signature with the first one.
func attestationChain(cred *webauthn.Credential) ([]*x509.Certificate, error) {
	var obj protocol.AttestationObject
	if err := webauthncbor.Unmarshal(cred.Attestation.Object, &obj); err != nil {
		return nil, err
	}
	x5c, _ := obj.AttStatement["x5c"].([]any)
	var out []*x509.Certificate
	for _, raw := range x5c {
		der, ok := raw.([]byte)
		if !ok {
			return nil, errors.New("x5c entry is not a certificate")
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	return out, nil
}
