package server

import (
	"context"
)

// RotateSealKey re-seals every stored factor secret under cfg.SealKey,
// reading secrets sealed under any of cfg.OldSealKeys, and returns how many
// it re-sealed. Servers keep running meanwhile: they read both keys.
func RotateSealKey(ctx context.Context, cfg Config) (int, error) {
	s, err := New(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return s.service.ResealSecrets(ctx)
}
