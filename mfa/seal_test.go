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

// A sealed state is bound to its row: copied to another enrollment (or a
// ticket's challenge to another ticket) under the same key, it does not
// open.
func TestSealedStateBoundToItsRow(t *testing.T) {
	s := &Service{keyring: mustRing(t, key(1))}
	a, b := &Enrollment{ID: newID()}, &Enrollment{ID: newID()}
	s.seal(a, []byte("JBSWY3DPEHPK3PXP"))
	if got, err := s.unseal(a); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("own row: %q %v", got, err)
	}
	b.State, b.KeyID = a.State, a.KeyID
	if _, err := s.unseal(b); !errors.Is(err, ErrSealKey) {
		t.Fatalf("copied to another enrollment: %v, want ErrSealKey", err)
	}
	if _, err := s.credential(b); !errors.Is(err, ErrSealKey) {
		t.Fatalf("credential of the copied row: %v, want ErrSealKey", err)
	}
	ta, tb := &LoginTicket{ID: newID()}, &LoginTicket{ID: newID()}
	sealed, id := s.keyring.Seal([]byte("challenge"), ta.aad())
	if _, err := s.keyring.Open(sealed, id, tb.aad()); !errors.Is(err, ErrSealKey) {
		t.Fatalf("challenge copied to another ticket: %v, want ErrSealKey", err)
	}
	// The same id in another table is another row.
	same := &LoginTicket{ID: a.ID}
	if _, err := s.keyring.Open(a.State, a.KeyID, same.aad()); !errors.Is(err, ErrSealKey) {
		t.Fatalf("enrollment state opened as a ticket's challenge: %v", err)
	}
}
