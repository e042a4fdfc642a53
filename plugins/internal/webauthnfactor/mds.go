package webauthnfactor

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/google/uuid"
)

// certifiedStatuses are the MDS3 statuses that make a model acceptable.
var certifiedStatuses = []metadata.AuthenticatorStatus{
	metadata.FidoCertified, metadata.FidoCertifiedL1, metadata.FidoCertifiedL1plus, metadata.FidoCertifiedL2,
	metadata.FidoCertifiedL2plus, metadata.FidoCertifiedL3, metadata.FidoCertifiedL3plus,
}

// certified is what a FIDO Metadata Service blob says: the models (by
// AAGUID) currently certified and never reported compromised or revoked,
// with their descriptions.
type certified map[uuid.UUID]string

// loadMDS reads an MDS3 blob (the JWT from the FIDO Metadata Service) from
// a local file, verifies its signature chain to root (the FIDO production
// root when rootFile is empty) and keeps the certified models.
func loadMDS(blobFile, rootFile string, now time.Time) (certified, error) {
	blob, err := os.ReadFile(blobFile)
	if err != nil {
		return nil, fmt.Errorf("mds_file: %w", err)
	}
	opts := []metadata.DecoderOption{metadata.WithIgnoreEntryParsingErrors()}
	if rootFile != "" {
		root, err := readRoot(rootFile)
		if err != nil {
			return nil, fmt.Errorf("mds_root_cert: %w", err)
		}
		opts = append(opts, metadata.WithRootCertificate(root))
	}
	dec, err := metadata.NewDecoder(opts...)
	if err != nil {
		return nil, err
	}
	payload, err := dec.DecodeBytes([]byte(strings.TrimSpace(string(blob))))
	if err != nil {
		return nil, fmt.Errorf("mds_file: the blob does not verify: %w", err)
	}
	md, err := dec.Parse(payload)
	if err != nil {
		return nil, fmt.Errorf("mds_file: %w", err)
	}
	out := certified{}
	undesired := metadata.DefaultUndesiredAuthenticatorStatuses()
	for _, e := range md.Parsed.Entries {
		if e.AaGUID == uuid.Nil {
			continue
		}
		if metadata.ValidateStatusReportsAt(e.StatusReports, certifiedStatuses, undesired, now) == nil {
			out[e.AaGUID] = e.MetadataStatement.Description
		}
	}
	return out, nil
}

// readRoot accepts a PEM certificate or base64 DER, and returns base64 DER
// (what the decoder takes).
func readRoot(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if block, _ := pem.Decode(b); block != nil {
		return base64.StdEncoding.EncodeToString(block.Bytes), nil
	}
	return strings.TrimSpace(string(b)), nil
}
