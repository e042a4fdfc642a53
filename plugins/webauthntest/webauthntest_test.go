package webauthntest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

const (
	creation = `{"publicKey": {"challenge": "AAECAwQFBgcICQoLDA0ODw", "rp": {"name": "Example"},
		"user": {"id": "dXNlcg", "name": "u", "displayName": "U"}, "pubKeyCredParams": [{"type": "public-key", "alg": -7}]}}`
	request = `{"publicKey": {"challenge": "AAECAwQFBgcICQoLDA0ODw", "rpId": "example.com"}}`
)

func TestRegisterAttestations(t *testing.T) {
	tests := map[webauthntest.Attestation]struct{ format, x5c string }{
		"":                            {"packed", ""},
		webauthntest.AttestationSelf:  {"packed", ""},
		webauthntest.AttestationNone:  {"none", ""},
		webauthntest.AttestationBasic: {"packed", "x5c"},
	}
	for att, want := range tests {
		t.Run(string(att), func(t *testing.T) {
			a := webauthntest.NewAuthenticator(webauthntest.Options{Attestation: att, Transports: []string{"usb"}})
			resp, err := a.Register("https://example.com", json.RawMessage(creation))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
			if err != nil {
				t.Fatalf("%s: %v", resp, err)
			}
			obj := parsed.Response.AttestationObject
			if _, hasX5C := obj.AttStatement["x5c"]; obj.Format != want.format || hasX5C != (want.x5c != "") {
				t.Errorf("format %q with statement %v, want %q (x5c: %v)", obj.Format, obj.AttStatement, want.format, want.x5c != "")
			}
			// With no rp.id in the options the RP id is the origin's host.
			if h := sha256.Sum256([]byte("example.com")); string(obj.AuthData.RPIDHash) != string(h[:]) {
				t.Errorf("signed for another RP id")
			}
			if id := a.AAGUID(); string(obj.AuthData.AttData.AAGUID) != string(id[:]) || len(parsed.Response.Transports) != 1 {
				t.Errorf("AAGUID %x, transports %v", obj.AuthData.AttData.AAGUID, parsed.Response.Transports)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	a := webauthntest.NewAuthenticator(webauthntest.Options{Counter: 41})
	if _, err := a.Login("https://example.com", json.RawMessage(request)); !errors.Is(err, webauthntest.ErrNoCredential) {
		t.Fatalf("login with no credential: %v", err)
	}
	creationForRP := `{"publicKey": {"challenge": "AAECAwQFBgcICQoLDA0ODw", "rp": {"id": "example.com", "name": "Example"}, "user": {"id": "dXNlcg", "name": "u", "displayName": "U"}}}`
	if _, err := a.Register("https://example.com", json.RawMessage(creationForRP)); err != nil {
		t.Fatal(err)
	}
	resp, err := a.Login("https://example.com", json.RawMessage(request))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Response.AuthenticatorData.Counter; got != 42 || a.Counter != 42 {
		t.Errorf("counter %d (authenticator %d), want 42", got, a.Counter)
	}
	if got := base64.RawURLEncoding.EncodeToString(parsed.Response.UserHandle); got != "dXNlcg" {
		t.Errorf("user handle %q", got)
	}
	other := `{"publicKey": {"challenge": "AAECAwQFBgcICQoLDA0ODw", "rpId": "other.example"}}`
	if _, err := a.Login("https://other.example", json.RawMessage(other)); !errors.Is(err, webauthntest.ErrNoCredential) {
		t.Errorf("discoverable login for another RP: %v", err)
	}
}

// Every credential key must parse: virtualwebauthn alone drops leading zero
// bytes of the coordinates of about one key in 128.
func TestCredentialKeysParse(t *testing.T) {
	a := webauthntest.NewAuthenticator(webauthntest.Options{Attestation: webauthntest.AttestationNone})
	for i := range 500 {
		resp, err := a.Register("https://example.com", json.RawMessage(creation))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := webauthncose.ParsePublicKey(parsed.Response.AttestationObject.AuthData.AttData.CredentialPublicKey); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}
