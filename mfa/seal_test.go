package mfa

import (
	"bytes"
	"errors"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestKeyringSealOpenAndRotation(t *testing.T) {
	old, _ := NewKeyring(key(1))
	sealed, id := old.Seal([]byte("JBSWY3DPEHPK3PXP"), "enrollment:a")
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if id != KeyID(key(1)) {
		t.Fatalf("key id %s", id)
	}
	rotated, _ := NewKeyring(key(2), key(1))
	got, err := rotated.Open(sealed, id, "enrollment:a")
	if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("old key not readable after rotation: %q %v", got, err)
	}
	if _, id2 := rotated.Seal(got, "enrollment:a"); id2 != KeyID(key(2)) {
		t.Fatal("new secrets not sealed under the current key")
	}
	cases := map[string]struct {
		ring   *Keyring
		sealed []byte
		aad    string
	}{
		"without the key":    {mustRing(t, key(3)), sealed, "enrollment:a"},
		"moved to other row": {rotated, sealed, "enrollment:b"},
		"tampered":           {rotated, append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1), "enrollment:a"},
		"truncated":          {rotated, sealed[:4], "enrollment:a"},
	}
	for name, tc := range cases {
		if _, err := tc.ring.Open(tc.sealed, id, tc.aad); !errors.Is(err, ErrSealKey) {
			t.Errorf("%s: got %v, want ErrSealKey", name, err)
		}
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func mustRing(t *testing.T, k []byte) *Keyring {
	r, err := NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
