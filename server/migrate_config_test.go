package server

import (
	"strings"
	"testing"

	"github.com/twofoldauth/twofold/models"
)

func TestConfigMigrateMode(t *testing.T) {
	for v, want := range map[string]models.MigrateMode{"": models.MigrateAuto, "auto": models.MigrateAuto, "WAIT": models.MigrateWait, "off": models.MigrateOff} {
		c, err := ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey, "TWOFOLD_MIGRATE": v}))
		if err != nil || c.Migrate != want {
			t.Errorf("TWOFOLD_MIGRATE=%q: %q, %v; want %q", v, c.Migrate, err, want)
		}
	}
	// manual is the migrate command's own mode, not a server's.
	for _, v := range []string{"sometimes", "manual"} {
		if _, err := ConfigFromEnv(env(map[string]string{"TWOFOLD_SEAL_KEY": goodKey, "TWOFOLD_MIGRATE": v})); err == nil || !strings.Contains(err.Error(), "TWOFOLD_MIGRATE") {
			t.Errorf("TWOFOLD_MIGRATE=%s: %v, want an error naming it", v, err)
		}
	}
}
