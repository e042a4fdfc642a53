package webauthnfactor

import (
	"strconv"
	"strings"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
)

// metadata is what users and admins see about a credential (public, kept
// unsealed by the host): aaguid, authenticator, transports,
// backup_eligible, backup_state and attestation_format.
func (c *config) metadata(cred *webauthn.Credential) map[string]string {
	m := map[string]string{
		"backup_eligible": strconv.FormatBool(cred.Flags.BackupEligible),
		"backup_state":    strconv.FormatBool(cred.Flags.BackupState),
	}
	if cred.AttestationFormat != "" {
		m["attestation_format"] = cred.AttestationFormat
	}
	// Providers that attest nothing (Apple's passkeys) send a zero AAGUID:
	// it names no model, so it is left out.
	if id := aaguid(cred.Authenticator.AAGUID); id != uuid.Nil {
		m["aaguid"] = id.String()
		if name := c.authenticatorName(id); name != "" {
			m["authenticator"] = name
		}
	}
	if len(cred.Transport) > 0 {
		ts := make([]string, len(cred.Transport))
		for i, t := range cred.Transport {
			ts[i] = string(t)
		}
		m["transports"] = strings.Join(ts, ",")
	}
	return m
}

// authenticatorName names a model: from the FIDO metadata when configured,
// else from the list of well-known models.
func (c *config) authenticatorName(id uuid.UUID) string {
	if c.mds != nil && c.mds.names[id] != "" {
		return c.mds.names[id]
	}
	return knownAuthenticators[id.String()]
}

// knownAuthenticators names common authenticator models by AAGUID, so users
// and admins see "iCloud Keychain" rather than a UUID. The list is the
// widely published one of passkey providers (community AAGUID registry);
// unknown models show no name.
var knownAuthenticators = map[string]string{
	"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
	"adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
	"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
	"dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (Managed)",
	"08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
	"9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
	"6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
	"bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
	"d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
	"531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
	"b84e4048-15dc-4dd0-8640-f4f60813c8af": "NordPass",
	"cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 Series",
	"ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5 Series",
	"fa2b99dc-9e39-4257-8f92-4a30d23c4118": "YubiKey 5 Series with NFC",
	"2fc0579f-8113-47ea-b116-bb5a8db9202a": "YubiKey 5 Series with NFC",
	"c5ef55ff-ad9a-4b9f-b580-adebafe026d0": "YubiKey 5Ci",
	"d8522d9f-575b-4866-88a9-ba99fa02f35b": "YubiKey Bio Series",
}
