package mfa

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Keyring seals factor secrets at rest with AES-256-GCM. New secrets are
// sealed under the current key; older keys stay readable so a rotation can
// re-seal everything without downtime. Each sealed value names its key id
// and is bound (as GCM additional data) to the row it belongs to, so a
// secret copied to another row does not open.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// ErrSealKey: the sealed value's key is unknown or the value was tampered
// with.
var ErrSealKey = errors.New("mfa: cannot open sealed secret (unknown key or tampered data)")

// KeyID names a key without revealing it: the first 8 hex digits of its
// SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// NewKeyring returns a keyring sealing under current and opening under
// current and any of old. Keys are 32 bytes.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{current: KeyID(current), aeads: map[string]cipher.AEAD{}}
	for _, key := range append([][]byte{current}, old...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("mfa: seal key must be 32 bytes, got %d", len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[KeyID(key)] = aead
	}
	return k, nil
}

// Has reports whether the keyring can open values sealed under keyID.
func (k *Keyring) Has(keyID string) bool {
	_, ok := k.aeads[keyID]
	return ok
}

// CurrentKeyID is the id new secrets are sealed under.
func (k *Keyring) CurrentKeyID() string { return k.current }

// Seal encrypts plaintext for the row named by aad and returns the sealed
// bytes (nonce || ciphertext) and the key id.
func (k *Keyring) Seal(plaintext []byte, aad string) ([]byte, string) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, []byte(aad)), k.current
}

// Open decrypts a value sealed by Seal under keyID for the same aad.
func (k *Keyring) Open(sealed []byte, keyID, aad string) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok || len(sealed) < aead.NonceSize() {
		return nil, ErrSealKey
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, ErrSealKey
	}
	return out, nil
}

// ErrSealKeyMissing: sealed data in the store needs a key the keyring does
// not hold (see CheckSealKeys).
var ErrSealKeyMissing = errors.New("mfa: the stored data was sealed with a key that is not configured")

// CheckSealKeys makes sure the keyring opens every sealed value the store
// holds, so that a server started with the wrong key refuses to start
// instead of failing at the first MFA login. The error wraps
// ErrSealKeyMissing and names the missing key ids.
func (s *Service) CheckSealKeys(ctx context.Context) error {
	ids, err := s.store.SealKeyIDs(ctx, s.now())
	if err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if !s.keyring.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: key id(s) %s (the current key is %s)", ErrSealKeyMissing, strings.Join(missing, ", "), s.keyring.CurrentKeyID())
	}
	return nil
}
