package server

import "github.com/twofoldauth/twofold/models"

// readMigrateConfig reads TWOFOLD_MIGRATE: auto (default: a server applies
// the pending migrations at start, one at a time), wait (it waits for a
// separate `twofold migrate up` step to bring the schema to its version) or
// off (it refuses to start on an older schema).
func readMigrateConfig(r *envReader, c *Config) {
	mode, err := models.ParseMigrateMode(r.get("TWOFOLD_MIGRATE"))
	if err != nil {
		r.fail("TWOFOLD_MIGRATE", "%v", err)
	}
	c.Migrate = mode
}
