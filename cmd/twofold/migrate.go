package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/server"
)

// migrate runs `twofold migrate status|up|down-to VERSION`. It needs only
// TWOFOLD_DATABASE_URL: a cluster's migration step has no other secret.
func migrate(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errUsage
	}
	var target int64
	switch args[0] {
	case "status", "up":
		if len(args) != 1 {
			return errUsage
		}
	case "down-to":
		if len(args) != 2 {
			return errUsage
		}
		v, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("down-to: %q is not a migration version (0 or more)", args[1])
		}
		target = v
	default:
		return errUsage
	}
	url := cmp.Or(strings.TrimSpace(getenv("TWOFOLD_DATABASE_URL")), server.DefaultDatabaseURL)
	store, err := models.Open(ctx, url, models.WithMigrate(models.MigrateManual))
	if err != nil {
		return err
	}
	defer store.Close()
	switch args[0] {
	case "up":
		if err := store.Migrate(ctx); err != nil {
			return err
		}
	case "down-to":
		if err := store.MigrateDownTo(ctx, target); err != nil {
			return err
		}
	}
	return printMigrationStatus(ctx, store, out)
}

func printMigrationStatus(ctx context.Context, store *models.Store, out io.Writer) error {
	list, err := store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	version, autoMigrated, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, m := range list {
		state, at := "pending", ""
		if m.Applied {
			state, at = "applied", m.AppliedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", m.Version, state, at, m.Name)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	latest, err := store.LatestMigration()
	if err != nil {
		return err
	}
	switch {
	case autoMigrated:
		fmt.Fprintln(out, "the database was made by a release before versioned migrations: `twofold migrate up` adopts it")
	case version > latest:
		fmt.Fprintf(out, "the schema is at %d, newer than this binary's %d (a newer release migrated it)\n", version, latest)
	case version == latest:
		fmt.Fprintf(out, "the schema is up to date (%d)\n", version)
	default:
		fmt.Fprintf(out, "the schema is at %d; this binary needs %d: run `twofold migrate up`\n", version, latest)
	}
	return nil
}
