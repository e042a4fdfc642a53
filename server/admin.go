package server

import (
	"context"
	"slices"
	"strings"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
)

// OpenService opens the database (running migrations) and the rules, with
// no plugins and no HTTP: for the break-glass `twofold admin` commands.
// The returned function closes the database.
func OpenService(ctx context.Context, cfg Config) (*mfa.Service, func() error, error) {
	store, err := models.Open(ctx, cfg.DatabaseURL, models.WithMigrate(cfg.Migrate))
	if err != nil {
		return nil, nil, err
	}
	keyring, err := mfa.NewKeyring(cfg.SealKey, cfg.OldSealKeys...)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	svc, err := mfa.New(store, cfg.MFA, mfa.WithKeyring(keyring))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return svc, store.Close, nil
}

// UnknownVariables lists the TWOFOLD_* variables of environ ("NAME=value")
// that no setting reads: most likely typos (TWOFOLD_HTTP_ADR). Test
// switches (TWOFOLD_TEST_*) are not settings, and plugin settings
// (TWOFOLD_FACTOR_*) are checked by the plugin host, which knows them.
func UnknownVariables(environ []string) []string {
	read := map[string]bool{}
	values := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		values[k] = v
	}
	_, _ = ConfigFromEnv(func(name string) string {
		read[name] = true
		return values[name]
	})
	var out []string
	for name := range values {
		// TWOFOLD_FACTOR_* set plugins' settings: the plugin host checks
		// them against what each installed plugin declares.
		if !strings.HasPrefix(name, "TWOFOLD_") || strings.HasPrefix(name, "TWOFOLD_TEST_") || strings.HasPrefix(name, "TWOFOLD_FACTOR_") || read[name] {
			continue
		}
		if base, ok := strings.CutSuffix(name, "_FILE"); ok && read[base] {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
