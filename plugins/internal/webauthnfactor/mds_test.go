package webauthnfactor_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/plugins/internal/webauthnfactor"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

type ca struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func newCert(t *testing.T, name string, parent *ca, isCA bool) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, der: der, key: key}
}

// mdsBlob writes an MDS3 blob signed through a test chain and the chain's
// root, and returns their paths.
func mdsBlob(t *testing.T, entries []map[string]any) (blobPath, rootPath string, signer *ca) {
	root := newCert(t, "Test MDS Root", nil, true)
	inter := newCert(t, "Test MDS Intermediate", root, true)
	leaf := newCert(t, "Test MDS Signer", inter, false)
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"legalHeader": "test", "no": 1, "nextUpdate": time.Now().Add(30 * 24 * time.Hour).Format(time.DateOnly), "entries": entries,
	})
	tok.Header["x5c"] = []string{base64.StdEncoding.EncodeToString(leaf.der), base64.StdEncoding.EncodeToString(inter.der)}
	signed, err := tok.SignedString(leaf.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	blobPath, rootPath = filepath.Join(dir, "blob.jwt"), filepath.Join(dir, "root.pem")
	os.WriteFile(blobPath, []byte(signed), 0o600)
	os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.der}), 0o600)
	return blobPath, rootPath, leaf
}

func entry(id uuid.UUID, description string, status string) map[string]any {
	return map[string]any{
		"aaguid":                 id.String(),
		"metadataStatement":      map[string]any{"description": description, "aaguid": id.String(), "attestationTypes": []string{"basic_full"}},
		"statusReports":          []map[string]any{{"status": status, "effectiveDate": "2024-01-01"}},
		"timeOfLastStatusChange": "2024-01-01",
	}
}

func TestHardwareKeyCertifiedByMDS(t *testing.T) {
	revoked := uuid.MustParse("11111111-2222-3333-4444-555555555555")
	blob, root, _ := mdsBlob(t, []map[string]any{
		entry(yubi, "Test Key Pro", "FIDO_CERTIFIED_L1"),
		entry(revoked, "Recalled Key", "REVOKED"),
	})
	f := newFactor(t, webauthnfactor.HardwareKey, map[string]string{"origins": origin, "mds_file": blob, "mds_root_cert": root})
	var certifiedID, revokedID, unknownID [16]byte
	copy(certifiedID[:], yubi[:])
	copy(revokedID[:], revoked[:])
	copy(unknownID[:], uuid.New().String())
	_, meta, err := enrol(t, f, webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost", AAGUID: certifiedID}))
	if err != nil {
		t.Fatalf("certified key refused: %v", err)
	}
	if meta["authenticator"] != "Test Key Pro" {
		t.Fatalf("authenticator name from MDS: %v", meta)
	}
	for name, id := range map[string][16]byte{"revoked": revokedID, "unknown": unknownID} {
		_, _, err := enrol(t, f, webauthntest.New(webauthntest.Options{Origin: origin, RPID: "localhost", AAGUID: id}))
		if !errors.Is(err, factors.ErrAttestationRefused) || !strings.Contains(err.Error(), "not FIDO certified") {
			t.Errorf("%s model: %v", name, err)
		}
	}
	// A blob that does not chain to the configured root is refused at start.
	_, otherRoot, _ := mdsBlob(t, nil)
	if _, err := webauthnfactor.New(webauthnfactor.HardwareKey).Configure(ctx, &factors.ConfigureRequest{Settings: map[string]string{"mds_file": blob, "mds_root_cert": otherRoot}}); !errors.Is(err, factors.ErrBadRequest) || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("blob with a foreign root: %v", err)
	}
}
