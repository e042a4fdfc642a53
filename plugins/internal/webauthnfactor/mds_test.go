package webauthnfactor_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

// signer is a certificate with its key, for a test MDS signing chain.
type signer struct {
	der []byte
	key *ecdsa.PrivateKey
}

func newSigner(t *testing.T, name string, parent *signer, isCA bool) *signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		if parentCert, err = x509.ParseCertificate(parent.der); err != nil {
			t.Fatal(err)
		}
		parentKey = parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{der: der, key: key}
}

// writeMDS writes an MDS3 blob of entries, signed through a fresh chain,
// and the chain's root as PEM; it returns their paths.
func writeMDS(t *testing.T, entries ...map[string]any) (blobPath, rootPath string) {
	t.Helper()
	root := newSigner(t, "Test MDS Root", nil, true)
	inter := newSigner(t, "Test MDS Intermediate", root, true)
	leaf := newSigner(t, "Test MDS Signer", inter, false)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"legalHeader": "test", "no": 1, "nextUpdate": time.Now().AddDate(0, 1, 0).Format(time.DateOnly), "entries": entries,
	})
	tok.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(leaf.der), base64.StdEncoding.EncodeToString(inter.der)}
	signed, err := tok.SignedString(leaf.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	blobPath, rootPath = filepath.Join(dir, "blob.jwt"), filepath.Join(dir, "root.pem")
	if err := os.WriteFile(blobPath, []byte(signed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return blobPath, rootPath
}

// mdsEntry describes a model whose attestation certificates chain to
// vendor, with status reports as (status, effective date) pairs.
func mdsEntry(id uuid.UUID, description string, vendor *webauthntest.Issuer, statuses ...string) map[string]any {
	var reports []map[string]any
	for i := 0; i < len(statuses); i += 2 {
		reports = append(reports, map[string]any{"status": statuses[i], "effectiveDate": statuses[i+1]})
	}
	return map[string]any{
		"aaguid": id.String(),
		"metadataStatement": map[string]any{
			"description": description, "aaguid": id.String(), "attestationTypes": []string{"basic_full"},
			"attestationRootCertificates": []string{base64.StdEncoding.EncodeToString(vendor.Certificate.Raw)},
		},
		"statusReports":          reports,
		"timeOfLastStatusChange": "2024-01-01",
	}
}

func newIssuer(t *testing.T) *webauthntest.Issuer {
	t.Helper()
	i, err := webauthntest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestSecurityKeyMetadataPolicy(t *testing.T) {
	vendor, forger := newIssuer(t), newIssuer(t)
	updated, revoked, unknown, surrogate := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	selfAttesting := mdsEntry(surrogate, "Test Key Basic", vendor, "FIDO_CERTIFIED", "2024-01-01")
	selfAttesting["metadataStatement"].(map[string]any)["attestationTypes"] = []string{"basic_full", "basic_surrogate"}
	blob, root := writeMDS(t, selfAttesting,
		mdsEntry(yubi, "Test Key Pro", vendor, "FIDO_CERTIFIED_L1", "2024-01-01"),
		mdsEntry(updated, "Test Key Lite", vendor, "FIDO_CERTIFIED", "2023-01-01", "UPDATE_AVAILABLE", "2024-06-01"),
		mdsEntry(revoked, "Recalled Key", vendor, "FIDO_CERTIFIED", "2023-01-01", "REVOKED", "2024-06-01"),
	)
	settings := map[string]string{"mds_file": blob, "mds_root_cert": root}
	key := func(id uuid.UUID, att webauthntest.Attestation, issuer *webauthntest.Issuer) webauthntest.Options {
		return webauthntest.Options{AAGUID: id, Attestation: att, Issuer: issuer, UserNotVerified: true}
	}
	tests := map[string]struct {
		device webauthntest.Options
		want   error
		detail string
		label  string
	}{
		"certified model":                {device: key(yubi, webauthntest.AttestationBasic, vendor), label: "Test Key Pro"},
		"certified, update available":    {device: key(updated, webauthntest.AttestationBasic, vendor), label: "Test Key Lite"},
		"revoked model":                  {device: key(revoked, webauthntest.AttestationBasic, vendor), want: factors.ErrAttestationRefused, detail: "not FIDO certified"},
		"model not in the metadata":      {device: key(unknown, webauthntest.AttestationBasic, vendor), want: factors.ErrAttestationRefused, detail: "not FIDO certified"},
		"certified model, forged":        {device: key(yubi, webauthntest.AttestationBasic, forger), want: factors.ErrAttestationRefused, detail: "trust chain"},
		"certified model, self-attested": {device: key(yubi, webauthntest.AttestationSelf, nil), want: factors.ErrAttestationRefused, detail: "basic_surrogate"},
		// The model may self-attest, but then nothing vouches it is that model.
		"self-attesting model":            {device: key(surrogate, webauthntest.AttestationSelf, nil), want: factors.ErrAttestationRefused, detail: "attested itself"},
		"certified model, no attestation": {device: key(yubi, webauthntest.AttestationNone, nil), want: factors.ErrAttestationRefused, detail: "no attestation"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCeremony(t, webauthnfactor.HardwareKey, settings, tc.device)
			err := c.enrol(origin)
			checkErr(t, err, tc.want, tc.detail)
			if err == nil && (c.label != tc.label || c.meta["authenticator"] != tc.label) {
				t.Errorf("label %q, authenticator %q, want %q from the metadata", c.label, c.meta["authenticator"], tc.label)
			}
		})
	}
}

// A model revoked after enrolment (a new blob, a plugin restart) no longer
// signs in.
func TestSecurityKeyRevokedAfterEnrolment(t *testing.T) {
	vendor := newIssuer(t)
	blob, root := writeMDS(t, mdsEntry(yubi, "Test Key Pro", vendor, "FIDO_CERTIFIED_L1", "2024-01-01"))
	c := newCeremony(t, webauthnfactor.HardwareKey, map[string]string{"mds_file": blob, "mds_root_cert": root},
		webauthntest.Options{AAGUID: yubi, Attestation: webauthntest.AttestationBasic, Issuer: vendor}).mustEnrol()
	c.mustLogin()
	blob, root = writeMDS(t, mdsEntry(yubi, "Test Key Pro", vendor, "FIDO_CERTIFIED_L1", "2024-01-01", "ATTESTATION_KEY_COMPROMISE", "2024-06-01"))
	c.finish = newFactor(t, webauthnfactor.HardwareKey, map[string]string{"mds_file": blob, "mds_root_cert": root})
	_, _, err := c.login(origin, false)
	checkErr(t, err, factors.ErrAttestationRefused, "no longer accepted")
}

func TestMetadataBlobMustVerify(t *testing.T) {
	blob, _ := writeMDS(t)
	_, otherRoot := writeMDS(t)
	garbage := filepath.Join(t.TempDir(), "garbage.jwt")
	if err := os.WriteFile(garbage, []byte("not a jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]map[string]string{
		"signed under another root":       {"mds_file": blob, "mds_root_cert": otherRoot},
		"not under the default FIDO root": {"mds_file": blob},
		"not a blob":                      {"mds_file": garbage},
	}
	for name, settings := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := webauthnfactor.New(webauthnfactor.HardwareKey).Configure(ctx, &factors.ConfigureRequest{Settings: settings})
			checkErr(t, err, factors.ErrBadRequest, "does not verify")
		})
	}
}
