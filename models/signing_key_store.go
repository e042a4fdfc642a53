package models

import (
	"context"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// signingKey is a session assertion signing key. The private key is sealed
// (KeyID names the seal key); the generation is unique, so servers that
// create the next key at once store one.
type signingKey struct {
	ID          string    `gorm:"primaryKey;size:36"`
	Generation  int64     `gorm:"not null;uniqueIndex:ux_signing_keys_generation"`
	Algorithm   string    `gorm:"size:16;not null"`
	PublicKey   []byte    `gorm:"type:blob;not null"`
	PrivateKey  []byte    `gorm:"type:blob;not null"`
	KeyID       string    `gorm:"size:16;not null"`
	CreatedAt   time.Time `gorm:"not null"`
	NotBefore   time.Time `gorm:"not null"`
	SignUntil   time.Time `gorm:"not null"`
	VerifyUntil time.Time `gorm:"not null"`
}

func (signingKey) TableName() string { return "signing_keys" }

var _ mfa.AssertionStore = (*Store)(nil)

// SigningKeys returns every stored key, by generation (a handful: one per
// rotation period still published).
func (s *Store) SigningKeys(ctx context.Context) ([]mfa.SigningKey, error) {
	var rows []signingKey
	if err := s.conn(ctx).Order("generation").Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]mfa.SigningKey, len(rows))
	for i, r := range rows {
		out[i] = mfa.SigningKey{
			ID: r.ID, Generation: r.Generation, Algorithm: r.Algorithm, PublicKey: r.PublicKey, PrivateKey: r.PrivateKey,
			SealKeyID: r.KeyID, CreatedAt: r.CreatedAt.UTC(), NotBefore: r.NotBefore.UTC(), SignUntil: r.SignUntil.UTC(),
			VerifyUntil: r.VerifyUntil.UTC(),
		}
	}
	return out, nil
}

// CreateSigningKey stores k; mfa.ErrDuplicate if its generation exists.
func (s *Store) CreateSigningKey(ctx context.Context, k *mfa.SigningKey) error {
	return translate(s.conn(ctx).Create(&signingKey{
		ID: k.ID, Generation: k.Generation, Algorithm: k.Algorithm, PublicKey: k.PublicKey, PrivateKey: k.PrivateKey,
		KeyID: k.SealKeyID, CreatedAt: k.CreatedAt, NotBefore: k.NotBefore, SignUntil: k.SignUntil, VerifyUntil: k.VerifyUntil,
	}).Error)
}

// DeleteSigningKeys deletes the keys no longer published at now.
func (s *Store) DeleteSigningKeys(ctx context.Context, now time.Time) error {
	return translate(s.conn(ctx).Where("verify_until <= ?", now).Delete(&signingKey{}).Error)
}
