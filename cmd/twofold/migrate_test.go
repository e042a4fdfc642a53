package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `twofold migrate status|up|down-to` need only TWOFOLD_DATABASE_URL (no
// seal key): status changes nothing, up applies every migration, down-to 0
// undoes them all, and bad arguments answer with the usage.
func TestMigrateCommands(t *testing.T) {
	env := map[string]string{"TWOFOLD_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "t.db")}
	getenv := func(k string) string { return env[k] }
	migrate := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(append([]string{"migrate"}, args...), &out, getenv, nil); err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		return out.String()
	}
	applied := regexp.MustCompile(`(?m)^\d+ +applied +\S+ +\d{5}_\w+\.sql$`)
	pending := regexp.MustCompile(`(?m)^\d+ +pending +\d{5}_\w+\.sql$`)

	out := migrate("status")
	if !strings.Contains(out, "00001_baseline.sql") || applied.MatchString(out) || !strings.Contains(out, "the schema is at 0; this binary needs") {
		t.Fatalf("status of an empty database:\n%s", out)
	}
	out = migrate("up")
	if pending.MatchString(out) || !applied.MatchString(out) || !strings.Contains(out, "the schema is up to date") {
		t.Fatalf("up:\n%s", out)
	}
	if again := migrate("status"); again != out {
		t.Fatalf("status after up differs from up's report:\n%s\n%s", again, out)
	}
	out = migrate("down-to", "0")
	if applied.MatchString(out) || !strings.Contains(out, "the schema is at 0") {
		t.Fatalf("down-to 0:\n%s", out)
	}
	for _, args := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "up", "now"}, {"migrate", "down-to"}} {
		if err := run(args, &bytes.Buffer{}, getenv, nil); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want the usage", args, err)
		}
	}
	if err := run([]string{"migrate", "down-to", "-1"}, &bytes.Buffer{}, getenv, nil); err == nil || !strings.Contains(err.Error(), "not a migration version") {
		t.Errorf("down-to -1: %v", err)
	}
}
