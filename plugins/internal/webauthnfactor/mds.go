package webauthnfactor

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/metadata/providers/memory"
	"github.com/google/uuid"
)

// certifiedStatuses are the MDS3 statuses that make a model acceptable.
var certifiedStatuses = []metadata.AuthenticatorStatus{
	metadata.FidoCertified, metadata.FidoCertifiedL1, metadata.FidoCertifiedL1plus, metadata.FidoCertifiedL2,
	metadata.FidoCertifiedL2plus, metadata.FidoCertifiedL3, metadata.FidoCertifiedL3plus,
}

// certified is what a FIDO Metadata Service blob says about the models
// that are FIDO certified and never reported compromised or revoked.
type certified struct {
	// provider holds their metadata statements, whose attestation roots
	// go-webauthn checks attestation certificates against.
	provider metadata.Provider
	// names are the models' descriptions ("YubiKey 5 Series").
	names map[uuid.UUID]string
}

// certifies reports whether the model is certified; a nil *certified (no
// metadata configured) certifies nothing.
func (c *certified) certifies(id uuid.UUID) bool {
	if c == nil {
		return false
	}
	_, ok := c.names[id]
	return ok
}

// loadMDS reads an MDS3 blob (the JWT the FIDO Metadata Service serves)
// from a local file, verifies its signature chain to the root (the FIDO
// production root when rootFile is empty) and keeps the certified models.
// A model is certified when one of its status reports in effect at now is
// a FIDO_CERTIFIED* one and none is an undesired one (revoked, key
// compromise...): later informational reports such as UPDATE_AVAILABLE do
// not withdraw a certification.
func loadMDS(blobFile, rootFile string, now time.Time) (*certified, error) {
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
	c := &certified{names: map[uuid.UUID]string{}}
	entries := map[uuid.UUID]*metadata.Entry{}
	undesired := metadata.DefaultUndesiredAuthenticatorStatuses()
	for _, e := range md.Parsed.Entries {
		if e.AaGUID == uuid.Nil {
			continue // U2F and UAF models: not FIDO2
		}
		if !certifiedAt(e.StatusReports, now) || metadata.ValidateStatusReportsAt(e.StatusReports, nil, undesired, now) != nil {
			continue
		}
		entries[e.AaGUID] = &e
		c.names[e.AaGUID] = e.MetadataStatement.Description
	}
	// The provider's defaults: a model must have an entry, its attestation
	// type must be one the entry lists, its certificate must chain to the
	// entry's roots, and no undesired status may be in effect.
	if c.provider, err = memory.New(memory.WithMetadata(entries)); err != nil {
		return nil, err
	}
	return c, nil
}

// certifiedAt reports whether a certification report is in effect at now.
func certifiedAt(reports []metadata.StatusReport, now time.Time) bool {
	return slices.ContainsFunc(metadata.EffectiveStatusReports(reports, now), func(r metadata.StatusReport) bool {
		return slices.Contains(certifiedStatuses, r.Status)
	})
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
